"""Stopping (docs/behaviour.md §12): SIGINT and SIGQUIT to the gunicorn master are gunicorn's
quick shutdown, at once, cutting off what is in flight; SIGTERM is the graceful one, which
drains and lets requests in flight finish. Real gunicorn processes and real signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx

from harness import pg
from harness.server import LiveServer

pytestmark = pg.once()

ADMIN = "ax_admin_" + "5" * 40
#: Long enough that a stop which waited for the drain, or for the request, could not pass.
DRAIN_SECONDS = 10
DELAY_MS = 20_000


def server(state: Path) -> LiveServer:
    env = {
        "ALIEN_ADMIN_TOKEN": ADMIN,
        "ALIEN_TEST_MODE": "1",  # Prefer: delay=..., a request that stays in flight
        "ALIEN_DRAIN_SECONDS": str(DRAIN_SECONDS),
        "ALIEN_DEV_MODE": "1",
    }
    return LiveServer(f"sqlite:///{state / 'alien.db'}", state, workers=2, env=env)


def in_flight(url: str, delay_ms: int, outcome: list[object]) -> threading.Thread:
    def call() -> None:
        headers = {"Authorization": f"Bearer {ADMIN}", "Prefer": f"delay={delay_ms}"}
        try:
            outcome.append(httpx.get(url + "/v1/whoami", headers=headers, timeout=60).status_code)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_sigint_to_the_master_stops_at_once(tmp_path):
    """SIGQUIT to the master takes the same path: gunicorn sends its workers SIGQUIT for both."""
    live = server(tmp_path).start()
    outcome: list[object] = []
    try:
        request = in_flight(live.url, DELAY_MS, outcome)
        time.sleep(1)  # the request has reached a worker
        os.kill(live.pid, signal.SIGINT)
        signalled = time.monotonic()
        assert live.process is not None
        code = live.process.wait(timeout=60)
        stopped_in = time.monotonic() - signalled
        request.join(timeout=30)
    finally:
        live.stop()
    log = live.log()
    # Neither the drain nor the request in flight was waited for (issue 23: it took 37-43 s,
    # ending with "Worker was sent SIGKILL!"); measured well under a second.
    assert stopped_in < DRAIN_SECONDS, log
    assert code == 0 and "SIGKILL" not in log and "Traceback" not in log, log
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.HTTPError)  # cut off
    assert not list(tmp_path.glob("metrics-*"))
    # The master's start-up line, and the dev-mode warning
    assert "alien-server " in log and "contract openapi.json sha256 89b070d5434e" in log
    assert "DEV MODE (ALIEN_DEV_MODE=1)" in log


def test_sigterm_lets_the_request_in_flight_finish(tmp_path):
    """The graceful stop (tests/app/serving/test_serving.py has the drain in detail)."""
    live = server(tmp_path)
    live.env["ALIEN_DRAIN_SECONDS"] = "1"
    live.start()
    outcome: list[object] = []
    try:
        request = in_flight(live.url, 3000, outcome)
        time.sleep(1)
        os.kill(live.pid, signal.SIGTERM)
        assert live.process is not None
        code = live.process.wait(timeout=60)
        request.join(timeout=30)
    finally:
        live.stop()
    assert outcome == [200]
    assert code == 0 and "SIGKILL" not in live.log()
