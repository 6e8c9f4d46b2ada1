"""The servers a benchmark run starts: the real app and the baseline, by one command.

Both are `BenchServer`s, so they differ only in the ASGI target gunicorn loads. The command is a
copy of tests/server.py's `LiveServer._spawn` (which `make run` matches) with the target made a
parameter; keep the two in step. PostgreSQL runs get a throwaway database created
through the test suite's admin URL and dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from tests import pg
from tests.server import ROOT, LiveServer

APP = "app.asgi:app"
BASELINE = "bench.baseline:app"


class BenchServer(LiveServer):
    def __init__(
        self, target: str, database_url: str, state_dir: Path, workers: int, env: dict[str, str]
    ) -> None:
        self.target = target
        super().__init__(database_url, state_dir, workers=workers, env=env)

    def _spawn(self, log: IO[bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-k",
                "uvicorn_worker.UvicornWorker",
                "-w",
                str(self.workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--control-socket",
                str(self.state_dir / f"gunicorn-{self.port}.ctl"),
                self.target,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def serving(
    target: str, database_url: str, state_dir: Path, workers: int, env: dict[str, str]
) -> Iterator[BenchServer]:
    server = BenchServer(target, database_url, state_dir, workers, env)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def postgres_reachable() -> bool:
    return pg.reachable()


PREFIX = "alien_bench_"


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the test server for one run; yields its DATABASE_URL.

    Databases left by earlier runs that were killed before dropping theirs go first.
    """
    import psycopg

    name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = pg.admin_url().replace("postgresql+pool://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)
        ).fetchall()
        for (old,) in rows:
            if not _alive(old.removeprefix(PREFIX).split("_")[0]):
                try:
                    conn.execute(f'DROP DATABASE "{old}"')
                except psycopg.errors.ObjectInUse:
                    pass
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.with_database(pg.admin_url(), name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True
