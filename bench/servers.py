"""The servers a benchmark run starts: the real app and the baseline, by one command.

Both are harness/server.py's `LiveServer` (the command `make run` uses, shared with the tests);
they differ only in the ASGI target gunicorn loads. PostgreSQL runs get a throwaway database
created through harness/pg.py's admin URL and dropped afterwards.
"""

from __future__ import annotations

import http.client
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness import pg
from harness.server import LiveServer

APP = "app.asgi:app"
BASELINE = "bench.baseline:app"


@contextmanager
def serving(
    target: str, database_url: str, state_dir: Path, workers: int, env: dict[str, str]
) -> Iterator[LiveServer]:
    server = LiveServer(database_url, state_dir, workers=workers, env=env, target=target)
    server.start(timeout=60)
    try:
        yield server
    finally:
        server.stop()


def health_status(port: int) -> int | None:
    """The status of one `GET /health` on 127.0.0.1:port; None while nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


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
