"""Test mode against real servers (docs/behaviour.md §13): gunicorn with two uvicorn workers, and
two instances on one database for the clock and reset. Runs on SQLite and on PostgreSQL
(`ALIEN_TEST_DB=postgres`).

Requests open a fresh connection each (`httpx.request`), so they spread over the workers.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.server import LiveServer
from tests.helpers import bearer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
DG_TOKEN = bearer("ax_dg_" + "0" * 39 + "2")
TIMEOUT = 60  # per request: bounds a wedged server, never asserted on


def call(server: LiveServer, method: str, path: str, headers: dict[str, str], body: Any = None,
         prefer: str | None = None) -> httpx.Response:  # fmt: skip
    if prefer is not None:
        headers = {**headers, "Prefer": prefer}
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=TIMEOUT)


def in_test_mode(**env: str) -> dict[str, str]:
    return {"ALIEN_TEST_MODE": "1", "ALIEN_FIXTURES": str(EXAMPLE), **env}


def big_fixture(path: Path, deployments: int = 60) -> Path:
    """About 100 objects: 2 groups, 3 releases, `deployments` deployments, one token each."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["deploymentGroups"][0]["maxDeployments"] = 1000
    data["releases"] += [
        {"id": f"rel_more_{i}", "stack": {"aws": {"id": "s", "resources": {}}}} for i in range(2)
    ]
    data["deployments"] = [
        {"id": f"dep_{i:03}", "name": f"d{i}", "deploymentGroupId": "dg_fixture_main",
         "platform": "aws", "status": "running", "currentReleaseId": "rel_fixture_v1"}
        for i in range(deployments)
    ]  # fmt: skip
    data["tokens"] = [data["tokens"][0], data["tokens"][1]] + [
        {"token": f"ax_deploy_{i:040x}", "deploymentId": f"dep_{i:03}"} for i in range(deployments)
    ]
    path.write_text(yaml.safe_dump(data))
    return path


# -- start-up ----------------------------------------------------------------------------------


def test_each_worker_says_test_mode_once(live_server):
    server = live_server(workers=2, **in_test_mode())
    assert server.log().count("TEST MODE (ALIEN_TEST_MODE=1)") == 2
    assert server.log().count("WARNING alien.testmode") == 2


def test_a_bad_fixture_stops_the_server_with_one_line(live_server, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("deployments: [{id: d, name: n, deploymentGroupId: g, platform: mars}]")
    with pytest.raises(RuntimeError, match="exited early"):
        live_server(workers=2, ALIEN_TEST_MODE="1", ALIEN_FIXTURES=str(bad))
    log = _last_log(tmp_path)
    lines = [line for line in log.splitlines() if str(bad) in line]
    assert lines and all("deployments[0].platform: 'mars' is not one of" in x for x in lines)
    # No traceback of ours; gunicorn's master may print its own HaltServer one when both
    # workers fail at the same instant (app.testmode.read_fixtures_or_exit in on_starting
    # would check once, in the master).
    frames = [line for line in log.splitlines() if line.strip().startswith('File "')]
    assert not [f for f in frames if "/site-packages/" not in f and "<frozen" not in f], log
    assert "FixtureError" not in log


def _last_log(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in tmp_path.glob("live*/server-*.log"))


def test_without_test_mode_a_live_server_has_none_of_it(live_server, admin):
    server = live_server(workers=2)
    assert call(server, "POST", "/_test/reset", admin).status_code == 404
    assert call(server, "POST", "/_test/clock", admin, {"advanceSeconds": 1}).status_code == 404
    assert call(server, "GET", "/v1/whoami", admin, prefer="code=500").status_code == 200
    assert "TEST MODE" not in server.log()


# -- reset -------------------------------------------------------------------------------------


def test_reset_is_atomic_for_concurrent_readers(live_server, admin, tmp_path):
    """Readers on both workers list the deployments while resets and creates run: every list
    holds all 60 fixture deployments (a reset is never seen half done), and both states (with
    and without extras) are seen."""
    server = live_server(
        workers=2, **in_test_mode(ALIEN_FIXTURES=str(big_fixture(tmp_path / "f.yaml")))
    )
    fixture_ids = {f"dep_{i:03}" for i in range(60)}
    stop = threading.Event()
    seen: list[tuple[int, int]] = []  # (fixture deployments seen, extras seen)
    failures: list[str] = []

    def read() -> None:
        while not stop.is_set():
            response = call(server, "GET", "/v1/deployments?limit=1000", admin)
            if response.status_code != 200:
                failures.append(response.text)
                continue
            ids = {d["id"] for d in response.json()["items"]}
            seen.append((len(ids & fixture_ids), len(ids - fixture_ids)))

    def write() -> int:
        resets = 0
        for round_ in range(8):
            for i in range(3):
                created = call(server, "POST", "/v1/deployments", admin,
                               {"name": f"x{round_}-{i}", "platform": "aws",
                                "deploymentGroupId": "dg_fixture_main"})  # fmt: skip
                assert created.status_code == 201, created.text
            assert call(server, "POST", "/_test/reset", admin).status_code == 200
            resets += 1
        return resets

    with ThreadPoolExecutor(5) as pool:
        readers = [pool.submit(read) for _ in range(4)]
        resets = pool.submit(write).result(timeout=300)
        stop.set()
        for reader in readers:
            reader.result(timeout=TIMEOUT)
    assert failures == [] and resets == 8
    assert len(seen) > 50
    assert {fixtures for fixtures, _ in seen} == {60}  # never a half-reset list
    assert {extras > 0 for _, extras in seen} == {True, False}  # both states were seen
    listed = call(server, "GET", "/v1/deployments?limit=1000", admin).json()["items"]
    assert {d["id"] for d in listed} == fixture_ids


def test_reset_on_one_instance_is_seen_by_another(live_server, admin):
    """Two instances (2 workers each) on one database: a reset through A is the state B serves."""
    a = live_server(workers=2, **in_test_mode())
    b = live_server(workers=2, **in_test_mode())
    created = call(b, "POST", "/v1/deployment-groups", admin, {"name": "extra"})
    assert created.status_code == 200
    assert call(a, "POST", "/_test/reset", admin).status_code == 200
    for _ in range(6):
        names = {g["name"] for g in call(b, "GET", "/v1/deployment-groups", admin).json()["items"]}
        assert names == {"main", "empty"}
        assert call(b, "GET", "/v1/whoami", DG_TOKEN).status_code == 200


# -- the clock ---------------------------------------------------------------------------------


def test_lease_expiry_and_takeover_through_the_clock(live_server, admin):
    """The fixture lease (taken 10 s ago by `fixture-worker`, TTL 300 s) is live on every
    worker until the clock moves 291 s; then any worker lets another session take it over, and
    the old holder's reconcile is refused."""
    server = live_server(workers=2, **in_test_mode(ALIEN_LOCK_TTL_SECONDS="300"))
    want = {"session": "taker", "deploymentIds": ["dep_fixture_leased"]}
    for _ in range(6):
        assert call(server, "POST", "/v1/sync/acquire", admin, want).json()["deployments"] == []
    moved = call(server, "POST", "/_test/clock", admin, {"advanceSeconds": 291})
    assert moved.status_code == 200 and moved.json()["offsetSeconds"] == 291
    offsets = {call(server, "GET", "/_test/clock", admin).json()["offsetSeconds"] for _ in range(8)}
    assert offsets == {291}
    taken = call(server, "POST", "/v1/sync/acquire", admin, want).json()["deployments"]
    assert [d["deployment"]["id"] for d in taken] == ["dep_fixture_leased"]
    late = call(server, "POST", "/v1/sync/reconcile", admin,
                {"deploymentId": "dep_fixture_leased", "session": "fixture-worker",
                 "state": {"status": "running", "platform": "aws"}})  # fmt: skip
    assert late.status_code == 409 and late.json()["code"] == "DEPLOYMENT_LOCKED"


def test_two_instances_share_the_clock(live_server, admin):
    """A lease taken on instance A; the clock moved on instance B; B lets a new session take
    the lease over, and A agrees (its own acquire for the first session gets nothing back)."""
    env = in_test_mode(ALIEN_LOCK_TTL_SECONDS="120")
    a = live_server(workers=2, **env)
    b = live_server(workers=2, **env)
    want = {"session": "first", "deploymentIds": ["dep_fixture_pending"]}
    got = call(a, "POST", "/v1/sync/acquire", admin, want).json()["deployments"]
    assert [d["deployment"]["id"] for d in got] == ["dep_fixture_pending"]
    other = {"session": "second", "deploymentIds": ["dep_fixture_pending"]}
    assert call(b, "POST", "/v1/sync/acquire", admin, other).json()["deployments"] == []
    assert call(b, "POST", "/_test/clock", admin, {"advanceSeconds": 121}).status_code == 200
    assert call(a, "GET", "/_test/clock", admin).json()["offsetSeconds"] == 121
    got = call(a, "POST", "/v1/sync/acquire", admin, other).json()["deployments"]
    assert [d["deployment"]["id"] for d in got] == ["dep_fixture_pending"]
    assert call(b, "POST", "/v1/sync/acquire", admin, want).json()["deployments"] == []


# -- Prefer: code, delay, faults ---------------------------------------------------------------


def raw_exchange(server: LiveServer, request: bytes) -> tuple[bytes, BaseException | None]:
    """Send one request on a raw socket; everything received until the server closes, and the
    error that ended the reading, if any."""
    received = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except OSError as exc:
            return received, exc
    return received, None


def http(method: str, path: str, token: str, prefer: str, body: bytes = b"") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nPrefer: {prefer}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@pytest.fixture
def faulty(live_server: Any) -> LiveServer:
    server: LiveServer = live_server(workers=2, **in_test_mode())
    return server


def group_names(server: LiveServer, admin: dict[str, str]) -> set[str]:
    return {g["name"] for g in call(server, "GET", "/v1/deployment-groups", admin).json()["items"]}


def test_fault_reset_resets_the_connection_and_changes_nothing(faulty, admin, settings):
    body = b'{"name": "after-reset"}'
    request = http("POST", "/v1/deployment-groups", settings.admin_token, "fault=reset", body)
    received, error = raw_exchange(faulty, request)
    assert received == b"" and isinstance(error, ConnectionResetError)
    assert "after-reset" not in group_names(faulty, admin)
    journal = call(faulty, "GET", "/_test/requests?operationId=create_deployment_group", admin)
    (exchange,) = journal.json()["items"]  # kept, with the body it never answered
    assert exchange["answered"] == "fault" and exchange["request"]["body"] == {
        "name": "after-reset"
    }


def test_fault_empty_closes_without_a_byte_and_changes_nothing(faulty, admin, settings):
    body = b'{"name": "after-empty"}'
    request = http("POST", "/v1/deployment-groups", settings.admin_token, "fault=empty", body)
    received, error = raw_exchange(faulty, request)
    assert (received, error) == (b"", None)
    assert "after-empty" not in group_names(faulty, admin)


def test_fault_truncated_cuts_the_body_after_the_operation_ran(faulty, admin, settings):
    body = b'{"name": "after-truncated"}'
    request = http("POST", "/v1/deployment-groups", settings.admin_token, "fault=truncated", body)
    received, _ = raw_exchange(faulty, request)
    head, _, sent = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    declared = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
                   .split(b":")[1])  # fmt: skip
    assert 0 < len(sent) < declared and sent.startswith(b'{"')
    assert "after-truncated" in group_names(faulty, admin)  # the write happened, the answer broke
    with pytest.raises(httpx.RemoteProtocolError):
        call(faulty, "GET", "/v1/deployments", admin, prefer="fault=truncated")


def test_the_server_keeps_serving_after_faults(faulty, admin, settings):
    for fault in ["reset", "empty", "truncated"] * 3:
        raw_exchange(faulty, http("GET", "/v1/whoami", settings.admin_token, f"fault={fault}"))
    assert call(faulty, "GET", "/v1/whoami", admin).status_code == 200


def test_forced_status_and_delay_on_a_live_server(faulty, admin):
    forced = call(faulty, "GET", "/v1/deployments/dep_fixture_running", admin, prefer="code=404")
    assert forced.status_code == 404 and forced.json()["code"] == "DEPLOYMENT_NOT_FOUND"
    started = time.monotonic()
    delayed = call(faulty, "GET", "/v1/whoami", admin, prefer="delay=800")
    assert delayed.status_code == 200 and time.monotonic() - started >= 0.8


def test_the_fault_rate_is_one_sequence_for_any_number_of_workers(live_server, admin):
    """Half the requests answer 503 (retryable AlienError): the same sequence from a one-worker
    server, from a two-worker one on the same database after a reset, and never on /health."""
    sequences = []
    for workers in (1, 2):
        server = live_server(workers=workers, **in_test_mode(ALIEN_TEST_FAULT_RATE="0.5"))
        assert call(server, "POST", "/_test/reset", admin).status_code == 200
        assert {call(server, "GET", "/health", {}).status_code for _ in range(5)} == {200}
        responses = [call(server, "GET", "/v1/whoami", admin) for _ in range(30)]
        server.stop()
        sequences.append([r.status_code for r in responses])
        for r in responses:
            if r.status_code == 503:
                assert r.json()["code"] == "SERVICE_UNAVAILABLE" and r.json()["retryable"]
                assert r.headers["retry-after"] == "1"
                assert r.headers.get("connection") != "close"
    assert sequences[0] == sequences[1]
    assert set(sequences[0]) == {200, 503}


# -- the recording -----------------------------------------------------------------------------


def test_workers_append_whole_lines_to_one_recording(live_server, admin, tmp_path):
    record = tmp_path / "record.ndjson"
    server = live_server(workers=2, **in_test_mode(ALIEN_TEST_RECORD=str(record)))
    # Long lines, so interleaving would show. The name is over the text limit (docs/behaviour.md
    # §11): those exchanges are 400s, and recorded whole like any other.
    big = {"name": "n" * 20000}

    def exchange(i: int) -> int:
        if i % 2:
            return call(server, "POST", "/v1/deployment-groups", admin, big).status_code
        return call(server, "GET", "/v1/deployments", DG_TOKEN).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(exchange, range(160)))
    assert set(statuses[0::2]) == {200} and set(statuses[1::2]) == {400}, statuses
    lines = record.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    records = [r for r in records if r["path"] != "/health"]  # the start-up readiness checks
    assert len(records) == 160
    assert {r["operationId"] for r in records} == {"create_deployment_group", "list_deployments"}
    assert all(r["request"]["body"] == big for r in records if r["method"] == "POST")
    assert len({r["sequence"] for r in records}) == 160  # one journal, one order
    assert "ax_dg_00000000000000" not in record.read_text()
