"""A worker killed outright takes its live gauges with it (the `child_exit` hook,
app/serving/multiproc.py): its files leave the metrics directory, and on PostgreSQL the pool's
connections it had checked out stop counting. Counters are another matter: they outlive their
worker (tests/app/serving/test_metrics.py)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import pg

pytestmark = pytest.mark.slow

IN_USE = "alien_db_pool_connections_in_use"
LIVE_FILE = re.compile(r"gauge_live\w*?_(\d+)\.db")
DEADLINE = 90.0  # seconds: bounds a wedged server on a loaded machine, never asserted on


def in_use(url: str) -> float:
    response = httpx.get(url + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == IN_USE
    )


def live_gauge_pids(metrics_dir: Path) -> set[int]:
    return {int(m.group(1)) for f in metrics_dir.iterdir() if (m := LIVE_FILE.fullmatch(f.name))}


def wait_for(predicate: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def test_a_killed_workers_live_gauges_go_with_it(live_server, admin, database_url):
    server = live_server(workers=2)
    metrics_dir = server.state_dir / f"metrics-{server.pid}"
    wait_for(lambda: len(live_gauge_pids(metrics_dir)) == 2, "both workers' gauges")
    workers = live_gauge_pids(metrics_dir)
    blocker = pg.connect(database_url) if pg.backend() == "postgres" else None
    waiting: threading.Thread | None = None
    try:
        if blocker is not None:
            # A request that waits on a lock holds a pool connection: the worker's gauge says 1.
            blocker.execute("BEGIN")
            blocker.execute("LOCK TABLE deployment_group IN ACCESS EXCLUSIVE MODE")

            def list_groups() -> None:
                try:
                    httpx.get(server.url + "/v1/deployment-groups", headers=admin, timeout=DEADLINE)
                except httpx.HTTPError:
                    pass  # its worker is killed under it

            waiting = threading.Thread(target=list_groups, daemon=True)
            waiting.start()
            wait_for(lambda: in_use(server.url) >= 1, "the waiting request's connection to count")
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: server.log().count("Application startup complete") >= 4, "new workers")
        wait_for(lambda: len(live_gauge_pids(metrics_dir) - workers) == 2, "new workers' gauges")
    finally:
        if blocker is not None:
            blocker.execute("ROLLBACK")
            blocker.close()
        if waiting is not None:
            waiting.join(DEADLINE)

    if blocker is not None:
        assert in_use(server.url) == 0, "a dead worker's checked-out connections still count"
    assert not live_gauge_pids(metrics_dir) & workers, "a dead worker's live gauges stayed"
