"""A request's database (models.db.request_connection) and SQLite's writer lock (WriterLock)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import peewee
import pytest
from starlette.testclient import TestClient

from harness import pg
from models.db import db, request_connection
from models.deployments import Deployment
from models.engines import SqliteWalDatabase
from models.groups import DeploymentGroup
from tests.helpers import acquire, assert_error

sqlite_only = pytest.mark.skipif(pg.backend() != "sqlite", reason="SQLite's own connections")


@contextmanager
def writer_lock_held_elsewhere() -> Iterator[Callable[[], None]]:
    """SQLite's writer lock held as another process holds it (its own open file of the lock),
    with a 0.2 s wait for it; yields the function that lets go of it."""
    database = db.obj
    assert isinstance(database, SqliteWalDatabase) and database.writer.path is not None
    other = os.open(database.writer.path, os.O_RDWR)
    fcntl.flock(other, fcntl.LOCK_EX)
    database.writer.timeout = 0.2
    try:
        yield lambda: fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)


def test_a_request_left_in_a_transaction_is_rolled_back_at_its_end(app: Any) -> None:
    with request_connection():
        db.begin()  # a handler bug: a transaction never finished
        DeploymentGroup.create_new("left open")
    with request_connection():
        assert not db.in_transaction()
        assert not DeploymentGroup.select().where(DeploymentGroup.name == "left open").exists()
        DeploymentGroup.create_new("next")  # and the next request can write
    with request_connection():
        assert DeploymentGroup.select().where(DeploymentGroup.name == "next").exists()


@sqlite_only
def test_a_thread_keeps_its_sqlite_connection_across_requests(app: Any) -> None:
    with request_connection():
        first = db.connection()
    with request_connection():
        assert db.connection() is first
    seen: list[Any] = []

    def other_thread() -> None:
        with request_connection():
            seen.append(db.connection())

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert seen and seen[0] is not first


@sqlite_only
def test_a_cursor_left_unread_does_not_pin_the_next_requests_view(app: Any) -> None:
    """A request that stops reading halfway, and keeps the cursor (a reference cycle, a lingering
    object): the thread's next request still sees another thread's write, and can write."""
    with request_connection():
        DeploymentGroup.create_new("a")
        DeploymentGroup.create_new("b")
    with request_connection():
        unread = db.execute_sql("SELECT name FROM deployment_group")
        assert unread.fetchone() is not None  # one row of two: the statement stays open

    def other_thread() -> None:
        with request_connection():
            DeploymentGroup.create_new("c")

    writer = threading.Thread(target=other_thread)
    writer.start()
    writer.join()
    with request_connection():
        assert DeploymentGroup.select().count() == 3
        with db.atomic():
            DeploymentGroup.create_new("d")
    assert unread is not None  # kept alive until here


@sqlite_only
def test_a_writer_waits_for_another_processs_write_and_no_longer_than_the_timeout(
    app: Any,
) -> None:
    with writer_lock_held_elsewhere() as let_go:
        with request_connection(), pytest.raises(peewee.OperationalError, match="locked"):
            with db.atomic():
                DeploymentGroup.create_new("waits")
        let_go()
        with request_connection(), db.atomic():  # free again: the write goes through
            DeploymentGroup.create_new("after")
        with request_connection():
            names = {g.name for g in DeploymentGroup.select()}
        assert "after" in names and "waits" not in names


@sqlite_only
def test_threads_take_turns_at_writing(app: Any) -> None:
    """Eight threads, each a read-then-write transaction: every write lands, none fails."""
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            with request_connection(), db.atomic():
                count = DeploymentGroup.select().count()
                DeploymentGroup.create_new(f"t{n}-{count}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with request_connection():
        assert DeploymentGroup.select().count() == 8


@sqlite_only
def test_a_sync_release_waits_in_the_writers_queue_and_a_lone_create_does_not(
    app: Any, client: Any, world: Any
) -> None:
    """A release (one UPDATE, no transaction) queues for the writer lock with the acquires and
    reconciles it competes with (models.db.queued_write); a group's creation stays with SQLite's
    own lock. Shown with the writer lock held as another process would hold it."""
    (leased,) = acquire(client, world.admin, "s1", deploymentIds=[world.deployment_id])
    release = {"deploymentId": leased["id"], "session": "s1"}
    with writer_lock_held_elsewhere() as let_go:
        # a busy database's retryable 5xx (the contract client refuses any 5xx)
        with TestClient(app, raise_server_exceptions=False) as raw:
            busy = raw.post("/v1/sync/release", json=release, headers=world.admin)
        assert_error(busy, 500, "DATABASE_ERROR")  # retryable: "database is busy"
        assert busy.json()["retryable"] is True
        created = client.post("/v1/deployment-groups", json={"name": "lone"}, headers=world.admin)
        assert created.status_code == 200, created.text
        let_go()
        done = client.post("/v1/sync/release", json=release, headers=world.admin)
        assert done.status_code == 200, done.text
    with request_connection():
        assert Deployment.existing(leased["id"]).locked_by is None
