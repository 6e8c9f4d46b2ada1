"""Start-up to healthy: from launching the server to its first `GET /health` 200.

Each start is harness/server.py's `LiveServer` (the gunicorn command `make run` execs) on SQLite,
timed from just before the process is spawned until /health first answers 200 (polled every
10 ms), and on until every worker has logged that it finished starting. All starts share one
state directory and database: the first creates the schema, the others start on it as a
restart does. Target: the median within TARGET_S.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.servers import health_status
from harness.server import LiveServer

TARGET_S = 1.5
POLL_S = 0.01


@dataclass
class Start:
    healthy_s: float  # first /health 200
    all_workers_s: float  # every worker logged "Application startup complete"


@dataclass
class Startup:
    workers: int
    starts: list[Start]

    def as_dict(self) -> dict[str, Any]:
        healthy = [s.healthy_s for s in self.starts]
        return {
            "database": "sqlite",
            "workers": self.workers,
            "target_s": TARGET_S,
            "healthy_s": [round(v, 3) for v in healthy],
            "all_workers_s": [round(s.all_workers_s, 3) for s in self.starts],
            "median_s": round(statistics.median(healthy), 3),
            "max_s": round(max(healthy), 3),
            "first_start_creates_database": True,
        }

    def line(self) -> str:
        d = self.as_dict()
        verdict = "within" if d["median_s"] <= TARGET_S else "OVER"
        return (
            f"start-up to healthy (SQLite, {self.workers} workers, {len(self.starts)} starts): "
            f"median {d['median_s']:.2f} s, max {d['max_s']:.2f} s ({verdict} the "
            f"{TARGET_S} s target); all workers up: median "
            f"{statistics.median(d['all_workers_s']):.2f} s; each: "
            + ", ".join(f"{v:.2f}" for v in d["healthy_s"])
        )


def measure_startup(starts: int, state_dir: Path, workers: int) -> Startup:
    database_url = f"sqlite:///{state_dir / 'alien.db'}"
    return Startup(workers, [_one(database_url, state_dir, workers) for _ in range(starts)])


def _one(database_url: str, state_dir: Path, workers: int, timeout: float = 60) -> Start:
    server = LiveServer(database_url, state_dir, workers=workers)
    started = time.perf_counter()
    server.spawn()
    try:
        healthy = None
        while (now := time.perf_counter()) - started < timeout:
            if healthy is None and health_status(server.port) == 200:
                healthy = now - started
            if healthy is not None and server.log().count("Application startup complete") >= (
                workers
            ):
                return Start(healthy, now - started)
            if server.process is not None and server.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{server.log()[-2000:]}")
            time.sleep(POLL_S)
        raise RuntimeError(f"server not healthy after {timeout} s:\n{server.log()[-2000:]}")
    finally:
        server.stop()
