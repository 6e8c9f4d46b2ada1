"""`make bench`'s sync cycle (bench/scenarios.py) as each load generator sends it: every
connection is one worker session that reconciles and releases the deployment its own acquire
leased, and a first answer without an id is counted, not hidden. The generators run for a
fraction of a second against a stand-in server that records what arrives on each connection;
nothing here measures speed."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from bench import cpu
from bench.load import NOTHING_CAPTURED, measure, wrk_path
from bench.scenarios import SYNC_CYCLE, app_scenarios
from harness import pg

pytestmark = pg.once()  # no database here

CONCURRENCY = 3
ADMIN = {"Authorization": "Bearer ax_admin_" + "0" * 40}


class StandIn(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, leases: bool) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.leases = leases  # False: answer acquire as Prism's example does, leasing nothing
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        #: per connection, what arrived: (path, body, the id an acquire's answer leased)
        self.connections: list[list[tuple[str, dict[str, Any], str | None]]] = []


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the generators expect
    server: StandIn

    def setup(self) -> None:
        super().setup()
        self.seen: list[tuple[str, dict[str, Any], str | None]] = []
        with self.server.lock:
            self.server.connections.append(self.seen)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer: dict[str, Any] = {"success": True}
        leased = None
        if self.path == "/v1/sync/acquire":
            with self.server.lock:
                leased = f"dep_{next(self.server.ids)}" if self.server.leases else None
            answer = {"deployments": [{"deployment": leased and {"id": leased}}]}
        self.seen.append((self.path, body, leased))
        raw = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stand_in(request: pytest.FixtureRequest) -> Iterator[StandIn]:
    server = StandIn(leases=request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


GENERATORS = [
    "python",
    pytest.param(
        "wrk", marks=pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed")
    ),
]


def run_cycle(generator: str, server: StandIn) -> Any:
    cycle = next(s for s in app_scenarios(ADMIN, "dep_x") if s.name == SYNC_CYCLE).target
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else host
    return measure(
        generator, f"http://{host}:{port}", cycle, concurrency=CONCURRENCY, warmup=0,
        duration=0.3, max_requests=300,
    )  # fmt: skip


@pytest.mark.parametrize("stand_in", [True], indirect=True)
@pytest.mark.parametrize("generator", GENERATORS)
def test_each_connection_is_a_session_that_releases_what_it_acquired(generator, stand_in):
    result = run_cycle(generator, stand_in)

    sessions = set()
    for seen in filter(None, stand_in.connections):
        assert [path for path, _, _ in seen] == [
            ("/v1/sync/acquire", "/v1/sync/reconcile", "/v1/sync/release")[i % 3]
            for i in range(len(seen))
        ]
        assert len({body["session"] for _, body, _ in seen}) == 1
        sessions.add(seen[0][1]["session"])
        for i, (path, body, _) in enumerate(seen):
            if path != "/v1/sync/acquire":
                assert body["deploymentId"] == seen[i - i % 3][2]  # this cycle's acquire
            if path == "/v1/sync/reconcile":
                assert body["state"] == {"status": "pending", "platform": "aws"}
    assert len(sessions) == CONCURRENCY
    assert result.uncaptured == 0 and result.non_2xx == 0 and result.steps == 3


@pytest.mark.parametrize("stand_in", [True], indirect=True)
@pytest.mark.parametrize("generator", GENERATORS)
def test_no_two_cycles_reconcile_the_same_lease(generator, stand_in):
    run_cycle(generator, stand_in)

    reconciled = [
        body["deploymentId"]
        for seen in stand_in.connections
        for path, body, _ in seen
        if path == "/v1/sync/reconcile"
    ]
    assert reconciled and len(reconciled) == len(set(reconciled))


@pytest.mark.parametrize("stand_in", [False], indirect=True)
@pytest.mark.parametrize("generator", GENERATORS)
def test_an_acquire_that_leases_nothing_is_counted(generator, stand_in):
    result = run_cycle(generator, stand_in)

    acquires = sum(
        path == "/v1/sync/acquire" for seen in stand_in.connections for path, _, _ in seen
    )
    follow_ups = [
        body["deploymentId"]
        for seen in stand_in.connections
        for path, body, _ in seen
        if path != "/v1/sync/acquire"
    ]
    assert follow_ups and set(follow_ups) == {NOTHING_CAPTURED}
    assert 0 < result.uncaptured <= acquires


@pytest.mark.parametrize("stand_in", [True], indirect=True)
@pytest.mark.parametrize("generator", GENERATORS)
def test_every_answer_is_counted_for_the_cpu_per_request_warm_up_included(generator, stand_in):
    cycle = next(s for s in app_scenarios(ADMIN, "dep_x") if s.name == SYNC_CYCLE).target
    host, port = stand_in.server_address[:2]
    result = measure(
        generator, f"http://{host}:{port}", cycle, concurrency=CONCURRENCY, warmup=1,
        duration=1, max_requests=100_000,
    )  # fmt: skip

    arrived = sum(len(seen) for seen in stand_in.connections)
    # every answer the generator read, of what arrived (wrk may stop with some in flight)
    assert result.requests < result.answered <= arrived
    assert result.answered >= arrived - 2 * CONCURRENCY


def burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_cpu_samples_count_the_process_and_its_living_children():
    with subprocess.Popen(
        [sys.executable, "-c", BURN_THEN_WAIT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        before = cpu.sample(os.getpid())
        child.stdin.write(b"go\n")
        child.stdin.flush()
        burn(0.2)
        assert child.stdout.readline() == b"burnt\n"
        after = cpu.sample(os.getpid())  # the child still lives: its time is its own, not ours
        child.stdin.close()
    assert before is not None and after is not None
    assert after.server - before.server >= 0.4 - 0.05  # 0.2 s here, 0.2 s in the child
    assert after.database >= before.database >= 0  # the postgres processes, if any


BURN_THEN_WAIT = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
end = time.process_time() + 0.2
while time.process_time() < end:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


def test_cpu_per_request_is_the_difference_over_the_answers():
    before, after = cpu.Sample(server=1.0, database=0.5), cpu.Sample(server=1.5, database=0.6)
    assert cpu.per_request(before, after, 1000) == {"server_us": 500.0, "database_us": 100.0}
    assert cpu.per_request(None, after, 1000) == {}
    assert cpu.per_request(before, after, 0) == {}
