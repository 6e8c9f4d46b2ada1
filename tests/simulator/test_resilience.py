"""The engine against a failing server (docs/behaviour.md §9): answers of 500 and connections
dropped mid-request, before and after the server acted. It backs off, releases what it can,
carries on, and leaves no lease behind; and it stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import pg
from harness.server import ROOT
from tests.simulator.conftest import DEADLINE, Arranger, stack, wait_until

pytestmark = pg.once()  # docs: harness/pg.py

#: (path, every, offset) -> fault: on the request numbered n (from 0) where n % every == offset.
#: "drop-after" forwards the request (the server acts) and then closes the connection unanswered;
#: "drop" closes it without forwarding; "500" answers an AlienError without forwarding.
FAULTS = {
    ("/v1/sync/reconcile", 7, 1): "drop-after",
    ("/v1/sync/reconcile", 7, 4): "500",
    ("/v1/sync/acquire", 5, 2): "drop-after",
    ("/v1/sync/release", 5, 1): "500",
    ("/v1/deployments", 8, 5): "drop",
}


def scheduled(path: str, n: int) -> str | None:
    """The fault FAULTS names for request number `n` to `path`, if any."""
    return next((f for (p, every, at), f in FAULTS.items() if p == path and n % every == at), None)


class FlakyProxy:
    """A small HTTP proxy in front of a live server that fails on a schedule: `fault(path, n)`
    names the fault for request number `n` (from 0) to `path`, or None."""

    def __init__(self, upstream: str, fault: Callable[[str, int], str | None] = scheduled) -> None:
        self.fault = fault
        self.upstream = httpx.Client(base_url=upstream, timeout=30)
        self.counts: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_DELETE = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        path = request.path.split("?")[0]
        with self.lock:
            n = self.counts[path]
            self.counts[path] += 1
        fault = self.fault(path, n)
        if fault is not None:
            with self.lock:
                self.faults[f"{path} {fault}"] += 1
        if fault in ("drop", "500"):
            if fault == "500":
                self._send(
                    request,
                    500,
                    b'{"code":"GENERIC_ERROR","message":"Internal server '
                    b'error","retryable":false,"internal":false,"httpStatusCode":500}',
                )
            else:
                request.close_connection = True
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        answer = self.upstream.request(request.command, request.path, content=body,
                                       headers=headers)  # fmt: skip
        if fault == "drop-after":
            request.close_connection = True
            return
        self._send(request, answer.status_code, answer.content)

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, content: bytes) -> None:
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(content)))
        request.end_headers()
        request.wfile.write(content)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.upstream.close()


def leased_elsewhere(api: Arranger, ids: list[str]) -> set[str]:
    """Of `ids` (all made acquirable first), those some session still holds: a fresh session's
    acquire skips them. The server's TTL is the default 300 s, so nothing here is stale."""
    for deployment_id in ids:
        api.ok("POST", f"/v1/deployments/{deployment_id}/redeploy")
    got = api.ok("POST", "/v1/sync/acquire",
                 json={"session": "inspector", "deploymentIds": ids, "limit": len(ids)})  # fmt: skip
    for item in got["deployments"]:
        api.ok("POST", "/v1/sync/release",
               json={"deploymentId": item["deployment"]["id"], "session": "inspector"})  # fmt: skip
    return set(ids) - {item["deployment"]["id"] for item in got["deployments"]}


@pytest.fixture
def flaky() -> Iterator[Callable[..., FlakyProxy]]:
    proxies: list[FlakyProxy] = []

    def make(upstream: str, fault: Callable[[str, int], str | None] = scheduled) -> FlakyProxy:
        proxies.append(FlakyProxy(upstream, fault).__enter__())
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.__exit__()


def test_the_engine_carries_on_through_errors_and_dropped_connections(
    live_server: Any, arranger_for: Callable[[str], Arranger], engines: Any, flaky: Any
) -> None:
    server = live_server()
    api = arranger_for(server.url)
    _, group_token = api.group()
    ids = [api.deployment(group_token, f"d{i}")[0] for i in range(6)]
    proxy = flaky(server.url)
    engine = engines(proxy.url, api.admin["Authorization"].removeprefix("Bearer "), batch=3)
    release = api.release(aws=stack())

    wait_until(lambda: api.all_at(ids, "running", release), 180, "all running despite faults")
    assert engine.thread.is_alive(), "no crash"
    assert engine.stop() == 0
    assert engine.loop.errors > 0, "the engine saw the faults and backed off"
    assert set(proxy.faults) == {f"{path} {fault}" for (path, _, _), fault in FAULTS.items()}
    assert leased_elsewhere(api, ids) == set()


def test_sigterm_finishes_the_step_releases_what_it_holds_and_exits_zero(
    live_server: Any, arranger_for: Callable[[str], Arranger], flaky: Any, tmp_path: Path
) -> None:
    """SIGTERM arrives while the engine holds a lease it could not release yet: the proxy sends
    it as the engine's first release reaches it, then answers that release with a 500. The
    engine finishes its step, and gives the lease back on its way out (nothing else would:
    no tick follows a SIGTERM)."""
    server = live_server()
    api = arranger_for(server.url)
    _, group_token = api.group()
    ids = [api.deployment(group_token, f"d{i}")[0] for i in range(8)]
    engine_pid: list[int] = []

    def sigterm_at_first_release(path: str, n: int) -> str | None:
        if path == "/v1/sync/release" and n == 0:
            os.kill(engine_pid[0], signal.SIGTERM)
            return "500"
        return None

    proxy = flaky(server.url, sigterm_at_first_release)
    out, err = tmp_path / "engine.out", tmp_path / "engine.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        engine = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--url", proxy.url, "--token-file", "-",
             "--tick", "20", "--batch", "8"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
        )  # fmt: skip
    engine_pid.append(engine.pid)
    try:
        assert engine.stdin is not None
        with engine.stdin:
            engine.stdin.write(api.admin["Authorization"].removeprefix("Bearer ").encode() + b"\n")
        api.release(aws=stack())
        assert engine.wait(DEADLINE) == 0, err.read_text()
    finally:
        engine.kill()
        engine.wait()
    log = err.read_text()
    assert "pending → initial-setup" in log and "stopped after" in log
    assert "release failed (500 " in log and "not released" not in log
    assert "\x1b[K" not in out.read_text()  # stdout is a file, not a terminal: no live summary
    assert proxy.counts["/v1/sync/release"] == len(ids) + 1  # each once, the refused one again
    assert leased_elsewhere(api, ids) == set()
