"""SQLite: a thread's connection closes when the thread ends (models/engines.py). Thread pools
end idle threads and start new ones (anyio's, under every `run_in_threadpool`); each new thread
opens its own connection, and none may stay open after its thread."""

from __future__ import annotations

import gc
import sqlite3
import threading
from typing import Any

import pytest

from harness import pg
from models.db import db, request_connection
from models.engines import SqliteWalDatabase

pytestmark = pytest.mark.skipif(pg.backend() != "sqlite", reason="SQLite's own connections")


def test_a_threads_connection_is_closed_when_the_thread_ends(app: Any) -> None:
    database = db.obj
    assert isinstance(database, SqliteWalDatabase)
    opened: list[Any] = []

    def one_request() -> None:
        with request_connection():
            db.execute_sql("SELECT 1")
            opened.append(db.connection())

    for _ in range(5):
        thread = threading.Thread(target=one_request)
        thread.start()
        thread.join()
    gc.collect()
    assert not any(conn in database._opened for conn in opened)
    for conn in opened:
        with pytest.raises(sqlite3.ProgrammingError):  # closed
            conn.execute("SELECT 1")
    with request_connection():  # this thread's own connection is untouched
        assert db.execute_sql("SELECT 1").fetchone() == (1,)


def test_a_live_threads_connection_stays_open(app: Any) -> None:
    database = db.obj
    assert isinstance(database, SqliteWalDatabase)
    with request_connection():
        first = db.connection()
    gc.collect()
    with request_connection():
        assert db.connection() is first and first in database._opened
