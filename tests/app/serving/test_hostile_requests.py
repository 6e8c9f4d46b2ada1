"""Requests shaped to hurt the server, on a live one (issue 21): odd paths, a body dripped
across its deadline, a slow server that must not blame its client.

One live 1-worker SQLite server with a short body deadline; raw sockets, because an HTTP
library normalises the paths and never drips a body.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import pg
from harness.server import LiveServer, read_until_closed, status_of

pytestmark = pg.once()  # docs: harness/pg.py

DEADLINE = 3  # the server's body deadline (s): a byte a second is well within it, per byte
MARGIN = 6  # how much later than a deadline a loaded machine may still act on it
ADMIN = "ax_admin_" + "7" * 40
AUTH = {"Authorization": f"Bearer {ADMIN}"}
#: A secret as long as a certificate or a JSON key, over several lines.
LONG_SECRET = "-----BEGIN KEY-----\n" + ("A" * 64 + "\n") * 64 + "-----END KEY-----"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    state: Path = tmp_path_factory.mktemp("hostile")
    env = {
        "ALIEN_ADMIN_TOKEN": ADMIN,
        "ALIEN_BODY_TIMEOUT_SECONDS": str(DEADLINE),
        "ALIEN_LOG_LEVEL": "INFO",
        "AWS_ACCESS_KEY_ID": "AKIA" + "X" * 300,
        "AWS_SECRET_ACCESS_KEY": LONG_SECRET,
        "AWS_SESSION_TOKEN": "t" * 3000,
        "AWS_REGION": "eu-west-1",
        "AWS_ACCOUNT_ID": "123456789012",  # required since issue 22 (the reference's AwsClientConfig)
    }
    with LiveServer(f"sqlite:///{state / 'alien.db'}", state, workers=1, env=env) as live:
        yield live


def head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: evil.example"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(server: LiveServer, request: bytes, wait: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        raw, _ = read_until_closed(sock, time.monotonic() + wait)
    return raw


def body_of(raw: bytes) -> dict[str, object]:
    document: dict[str, object] = json.loads(raw.split(b"\r\n\r\n", 1)[1])
    return document


@pytest.mark.parametrize(
    "path",
    ["//health", "/v1//whoami", "//v1/whoami", "/v1/deployments//x", "/v1/deployments/",
     "/v1/whoami/", "/health/", "/v1/deployment-groups/"],
)  # fmt: skip
def test_an_empty_segment_or_a_trailing_slash_is_404_never_500_nor_a_redirect(server, path):
    """Mirrors the reference's router (axum: no route for `/v1/deployments/`, no redirect); a
    redirect here would take its Location from the client's Host header."""
    logged_before = server.log()
    for method in ("GET", "POST"):
        raw = exchange(server, head(method, path, **AUTH, Connection="close"))
        assert status_of(raw) == 404, raw[:300]
        assert b"location:" not in raw.lower()
        assert body_of(raw)["code"] == "NOT_FOUND"
    logged = server.log()[len(logged_before) :]
    assert not [line for line in logged.splitlines() if " INFO " not in line], logged


def test_swagger_ui_keeps_its_own_slashes(server):
    assert httpx.get(server.url + "/ui/").status_code == 200
    assert httpx.get(server.url + "/ui", follow_redirects=False).headers["location"] == "/ui/"


def test_a_body_dripped_one_byte_a_second_is_cut_off_at_the_deadline_for_the_whole_body(server):
    """Each byte comes well within the deadline; the body as a whole does not. A deadline
    measured per chunk would never cut this client off (issue 27)."""
    body = b'{"name": "' + b"d" * 200 + b'"}'
    request = head("POST", "/v1/deployment-groups", **AUTH, **{"Content-Length": str(len(body))})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        give_up = time.monotonic() + DEADLINE + MARGIN  # dripping all along, never pausing
        raw = b""
        for byte in body:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(1)
                raw += sock.recv(65536)
            except TimeoutError:
                pass
            except OSError:  # closed by the server
                break
            if raw or time.monotonic() > give_up:
                break
        rest, closed_at = read_until_closed(sock, time.monotonic() + 1)
    raw += rest
    assert status_of(raw) == 408, raw[:300]
    assert body_of(raw)["code"] == "REQUEST_TIMEOUT"
    assert closed_at is not None


def test_a_body_that_arrived_is_not_blamed_for_a_slow_authentication(server):
    """The token's first use is recorded (a write); with SQLite's writer lock held elsewhere
    for longer than the body deadline, authentication waits, and the body, sent whole at once,
    is then read: the request succeeds, it does not answer 408."""
    created = httpx.post(
        server.url + "/v1/deployment-groups", json={"name": "slow-auth"}, headers=AUTH
    )
    minted = httpx.post(
        server.url + f"/v1/deployment-groups/{created.json()['id']}/tokens", headers=AUTH
    )
    token = minted.json()["token"]  # never used yet: its first use writes
    body = json.dumps({"name": "patient", "platform": "aws"}).encode()
    request = head(
        "POST", "/v1/deployments", Authorization=f"Bearer {token}", Connection="close",
        **{"Content-Type": "application/json", "Content-Length": str(len(body))},
    ) + body  # fmt: skip
    other = sqlite3.connect(server.state_dir / "alien.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, as another process holds it
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request)
            time.sleep(DEADLINE + 2)
            other.execute("ROLLBACK")
            raw, _ = read_until_closed(sock, time.monotonic() + 10)
    finally:
        other.close()
    assert status_of(raw) == 201, raw[:400]


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"GET /health HTTP/9.9\r\n\r\n",
     b"GET /health HTTP/1.1\r\nHo st: x\r\n\r\n",
     b"POST /v1/deployments HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
     b"POST /v1/deployments HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"],
    ids=["no request line", "HTTP/9.9", "space in a header name", "bad length", "TE and CL"],
)  # fmt: skip
def test_malformed_http_gets_the_spec_error_document(server, request_bytes):
    raw = exchange(server, request_bytes)
    assert status_of(raw) == 400, raw[:300]
    assert b"content-type: application/json" in raw.lower()
    assert body_of(raw)["code"] == "BAD_REQUEST"


def test_metrics_are_not_readable_from_a_web_page(server):
    origin = {"Origin": "https://evil.example"}
    scraped = httpx.get(server.url + "/metrics", headers=origin)
    assert scraped.status_code == 200
    assert "access-control-allow-origin" not in scraped.headers
    preflight = httpx.options(
        server.url + "/metrics", headers=origin | {"Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    api = httpx.get(server.url + "/v1/whoami", headers=origin | AUTH)  # the API still is
    assert api.headers["access-control-allow-origin"] == "*"


def test_secrets_longer_than_256_characters_are_handed_out_whole(server):
    group = httpx.post(server.url + "/v1/deployment-groups", json={"name": "creds"}, headers=AUTH)
    body = {"name": "d", "platform": "aws", "deploymentGroupId": group.json()["id"]}
    deployment = httpx.post(server.url + "/v1/deployments", json=body, headers=AUTH).json()
    resolved = httpx.post(
        server.url + "/v1/resolve-credentials",
        json={"platform": "aws", "deploymentId": deployment["deployment"]["id"]},
        headers=AUTH,
    )
    assert resolved.status_code == 200, resolved.text
    credentials = resolved.json()["clientConfig"]["credentials"]
    assert credentials["secret_access_key"] == LONG_SECRET
    assert credentials["session_token"] == "t" * 3000
