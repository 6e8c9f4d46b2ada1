"""Slow, idle and oversized clients cannot starve the server (docs/behaviour.md §12).

One live 2-worker server (the project's gunicorn configuration) with short deadlines; the
clients are raw sockets, because an HTTP library would never send half a request.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import pg
from harness.server import LiveServer, read_until_closed, status_of

pytestmark = pg.once()  # docs: harness/pg.py

DEADLINE = 4  # body, head and keep-alive timeouts of the server under test, in seconds
MARGIN = 6  # how much later than the deadline a loaded machine may still close a connection
ADMIN = "ax_admin_" + "5" * 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Connections, not storage, are the subject: one SQLite server serves the whole module.
    state: Path = tmp_path_factory.mktemp("slow")
    env = {
        "ALIEN_ADMIN_TOKEN": ADMIN,
        "ALIEN_BODY_TIMEOUT_SECONDS": str(DEADLINE),
        "ALIEN_HEADER_TIMEOUT_SECONDS": str(DEADLINE),
        "ALIEN_KEEPALIVE_SECONDS": str(DEADLINE),
    }
    with LiveServer(f"sqlite:///{state / 'alien.db'}", state, workers=2, env=env) as live:
        yield live


def connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def head(method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


AUTH = {"Authorization": f"Bearer {ADMIN}"}
GROUPS = "/v1/deployment-groups"


def half_body(content_type: str | None, authorised: bool = True) -> bytes:
    headers = {"Content-Length": "1000", **(AUTH if authorised else {})}
    if content_type:
        headers["Content-Type"] = content_type
    return head("POST", GROUPS, **headers) + b'{"name": "slo'


#: name -> (what the client sends before it stalls, the status it must get, or None for a
#: connection closed without an answer). Every one must be closed by the server in time.
STALLS: dict[str, tuple[bytes, int | None]] = {
    "multipart, half a body": (half_body("multipart/form-data; boundary=x"), 415),
    "form, half a body": (half_body("application/x-www-form-urlencoded"), 415),
    "json, half a body": (half_body("application/json"), 408),
    "no content type, half a body": (half_body(None), 408),
    "json, half a body, no token": (half_body("application/json", authorised=False), 401),
    "chunked json, half a body": (
        head("POST", GROUPS, **AUTH, **{"Content-Type": "application/json",
                                        "Transfer-Encoding": "chunked"}) + b"5\r\n{\"nam",
        408,
    ),
    "half a request line": (b"GET /heal", 408),
    "headers without their end": (b"GET /v1/whoami HTTP/1.1\r\nHost: test\r\n", 408),
    "silent": (b"", None),
}  # fmt: skip
DRIP = b"GET /v1/whoami HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 500


@pytest.fixture(scope="module")
def fresh() -> Iterator[httpx.Client]:
    """A new connection per request, like a new client's (made once: an httpx client costs a
    loaded machine real time)."""
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=5) as client:
        yield client


def answered(fresh: httpx.Client, url: str, headers: dict[str, str] | None = None) -> None:
    response = fresh.get(url, headers=headers)
    assert response.status_code == 200, response.text


def stall(server: LiveServer, kind: str) -> socket.socket:
    sock = connect(server)
    if kind == "idle keep-alive":
        sock.sendall(head("GET", "/health"))
        raw = b""
        while b'{"status":"healthy"}' not in raw:  # the whole response, and keep the connection
            raw += sock.recv(65536)
    elif kind != "dripping headers":
        sock.sendall(STALLS[kind][0])
    return sock


def drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    """A byte of a never-ending head on every socket each 0.2 s, until the server closes it."""
    position = 0
    while not stop.is_set() and sockets:
        for sock in list(sockets):
            try:
                sock.send(DRIP[position % len(DRIP) :][:1])
            except OSError:
                sockets.remove(sock)
        position += 1
        time.sleep(0.2)


EXPECTED = {kind: status for kind, (_, status) in STALLS.items()}
EXPECTED |= {"dripping headers": 408, "idle keep-alive": None}
#: The kinds only a deadline ends: while one is open, the server has not been freed of it.
HELD = {kind for kind, status in EXPECTED.items() if status in (408, None)}
ROUNDS = 3  # rounds a test may need before its verdict stands (see below)


def still_open(sock: socket.socket) -> bool:
    """Whether the server has neither answered nor closed `sock` yet (never waits)."""
    readable, _, _ = select.select([sock], [], [], 0)
    return not readable  # readable: an answer waiting, or the end of the connection


def stalled_round(server: LiveServer, fresh: httpx.Client) -> bool:
    """64 connections of every stalling kind; fresh requests meanwhile. Every stalled connection
    must be closed by the server within its deadline, with the AlienError it owes (if any).
    True when the fresh requests were answered while every connection only a deadline ends was
    still open."""
    kinds = list(EXPECTED)
    sockets: list[tuple[str, socket.socket]] = []
    stop = threading.Event()
    dripping: list[socket.socket] = []
    dripper = threading.Thread(target=drip, args=(dripping, stop), daemon=True)
    try:
        for i in range(64):
            kind = kinds[i % len(kinds)]
            sockets.append((kind, stall(server, kind)))
        stalled_at = time.monotonic()
        dripping += [sock for kind, sock in sockets if kind == "dripping headers"]
        dripper.start()
        answered(fresh, server.url + "/health")
        answered(fresh, server.url + "/v1/whoami", AUTH)
        not_starved = all(still_open(sock) for kind, sock in sockets if kind in HELD)
        outcomes = [
            (kind, *read_until_closed(sock, stalled_at + DEADLINE + MARGIN))
            for kind, sock in sockets
        ]
    finally:
        stop.set()
        if dripper.is_alive():
            dripper.join(timeout=5)
        for _, sock in sockets:
            sock.close()

    still = [kind for kind, _, closed_at in outcomes if closed_at is None]
    assert not still, f"still open {DEADLINE + MARGIN} s after stalling: {still}"
    for kind, raw, _ in outcomes:
        assert status_of(raw) == EXPECTED[kind], (kind, raw[:300])
        if EXPECTED[kind] is not None:
            head_part, body = raw.split(b"\r\n\r\n", 1)
            assert json.loads(body)["httpStatusCode"] == EXPECTED[kind], (kind, body)
            assert b"connection: close" in head_part.lower(), (kind, head_part)
    answered(fresh, server.url + "/health")
    return not_starved


def test_stalled_connections_neither_starve_the_server_nor_stay_open(server, fresh):
    """Stalled connections do not starve the server, shown by the order of events, not by time.
    A server they starved could answer a fresh request only once a deadline had freed it of one
    of them, so an answer that comes while every one of them is still open shows it was not
    starved, however long the answer took. On a machine too loaded to answer before the first
    deadline, a round shows nothing either way and runs again: a starved server fails every
    round, a loaded one passes as soon as one round gets its answers in."""
    rounds = 0
    while rounds < ROUNDS:
        rounds += 1
        if stalled_round(server, fresh):
            return
    pytest.fail(
        f"in each of {ROUNDS} rounds, the fresh requests were answered only after a stalled"
        " connection had been closed at its deadline: the stalled connections starve the server"
    )


def exchange(server: LiveServer, request: bytes, wait: float) -> tuple[bytes, float | None, float]:
    """Send `request`, then read until the server closes: (bytes, closed at, sent at)."""
    with connect(server) as sock:
        sock.sendall(request)
        sent_at = time.monotonic()
        raw, closed_at = read_until_closed(sock, sent_at + wait)
    return raw, closed_at, sent_at


def alien_error(raw: bytes) -> dict[str, object]:
    head_part, body = raw.split(b"\r\n\r\n", 1)
    assert b"content-type: application/json" in head_part.lower()
    assert b"connection: close" in head_part.lower()
    error: dict[str, object] = json.loads(body)
    assert error["httpStatusCode"] == status_of(raw)
    return error


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=x", "multipart/mixed", "application/x-www-form-urlencoded",
     "Application/X-WWW-Form-Urlencoded; charset=utf-8"],
)  # fmt: skip
@pytest.mark.parametrize("authorised", [True, False], ids=["token", "no token"])
def test_a_form_body_is_refused_before_any_of_it_arrives(server, content_type, authorised):
    """Only the head is sent: the 415 (before authentication) cannot have waited for a body."""
    headers = {"Content-Type": content_type, "Content-Length": "1000000"}
    request = head("POST", GROUPS, **headers, **(AUTH if authorised else {}))
    raw, closed_at, sent_at = exchange(server, request, wait=DEADLINE - 1)
    assert closed_at is not None, raw
    assert status_of(raw) == 415
    assert alien_error(raw)["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    "request_bytes",
    [
        half_body("application/json"),
        head("POST", GROUPS, **AUTH, **{"Transfer-Encoding": "chunked"}) + b"3\r\n{\"n",
        head("POST", "/v1/sync/acquire", **AUTH, **{"Content-Length": "50"}),
    ],
    ids=["declared length", "chunked", "nothing of the body"],
)  # fmt: skip
def test_a_body_that_stops_arriving_is_a_408_and_the_connection_closes(server, request_bytes):
    raw, closed_at, sent_at = exchange(server, request_bytes, wait=DEADLINE + MARGIN)
    assert closed_at is not None and status_of(raw) == 408, raw
    assert closed_at - sent_at >= DEADLINE - 0.5  # the deadline, not an early give-up
    error = alien_error(raw)
    assert error["code"] == "REQUEST_TIMEOUT" and error["retryable"] is True


def test_a_body_that_arrives_in_pieces_within_the_deadline_is_served(server):
    body = json.dumps({"name": "pieces"}).encode()
    request = head("POST", GROUPS, **AUTH, **{"Content-Type": "application/json",
                                               "Content-Length": str(len(body))})  # fmt: skip
    with connect(server) as sock:
        sock.sendall(request)
        for i in range(0, len(body), 6):
            time.sleep(0.3)
            sock.sendall(body[i : i + 6])
        sock.settimeout(10)
        raw = b""
        while b'"pieces"' not in raw:
            raw += sock.recv(65536)
        assert status_of(raw) == 200, raw
        assert b"connection: close" not in raw.lower()  # served normally: kept alive
        sock.sendall(head("GET", "/health"))
        assert status_of(sock.recv(65536)) == 200


@pytest.mark.parametrize("size", [17 * 1024, 64 * 1024])
def test_headers_over_the_limit_are_a_431(server, size):
    request = head("GET", "/v1/whoami", **AUTH, **{"X-Big": "a" * size})
    raw, closed_at, _ = exchange(server, request, wait=DEADLINE)
    assert closed_at is not None and status_of(raw) == 431, raw[:300]
    assert alien_error(raw)["code"] == "REQUEST_HEADERS_TOO_LARGE"


def test_a_huge_header_is_not_read_whole(server):
    """32 MB of header: the server answers and hangs up long before it has it all."""
    sent = 0
    with connect(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\nX-Huge: ")
        with pytest.raises(OSError):  # broken pipe / reset once the server has closed
            for _ in range(32 * 1024):
                sock.sendall(b"a" * 1024)
                sent += 1024
    assert sent < 4 * 1024 * 1024


def test_headers_under_the_limit_are_served(server):
    request = head("GET", "/v1/whoami", **AUTH, **{"X-Big": "a" * 12 * 1024, "Connection": "close"})
    raw, closed_at, _ = exchange(server, request, wait=DEADLINE)
    assert status_of(raw) == 200, raw[:300]


def test_a_multipart_body_is_a_415_in_process(client, admin):
    form = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\ng\r\n--x--\r\n'
    content_type = {"Content-Type": "multipart/form-data; boundary=x"}
    response = client.post(GROUPS, content=form, headers=admin | content_type)
    assert response.status_code == 415
    assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
