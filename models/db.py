"""The one database object, and the connection and transaction helpers every model uses.

`db` is a proxy, bound at start-up to an engine of models/engines.py (`bind_database`).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import peewee
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from models import revocation
from models.engines import CheckedPooledPostgresqlDatabase, CommitOutcomeUnknown, SqliteWalDatabase

_ROUTE: ContextVar[tuple[str, peewee.Database] | None] = ContextVar("db_route", default=None)
_BOUND = peewee.DatabaseProxy.__dict__["obj"]  # the proxy's own slot


class RoutedDatabaseProxy(peewee.DatabaseProxy):
    """Peewee's proxy, which a context may point elsewhere (`routed`): test mode's namespaces
    (app/testmode/namespaces.py), each a database of its own behind one set of models. Outside
    a route, `obj` is the database `initialize` bound, as with peewee's proxy. `db` becomes one
    only when test mode asks (`allow_routes`): elsewhere every query reads peewee's plain slot,
    not this property."""

    __slots__ = ()

    @property
    def obj(self) -> Any:
        route = _ROUTE.get()
        return _BOUND.__get__(self) if route is None else route[1]

    @obj.setter
    def obj(self, value: Any) -> None:
        _BOUND.__set__(self, value)

    def __setattr__(self, attr: str, value: Any) -> None:
        object.__setattr__(self, attr, value)


db = peewee.DatabaseProxy()


def allow_routes() -> None:
    """Let `routed` point `db` elsewhere (test mode's namespaces). The same object keeps its
    state and identity, so every model bound to it follows; only its class changes."""
    object.__setattr__(db, "__class__", RoutedDatabaseProxy)  # peewee's proxy refuses setattr


@contextmanager
def routed(name: str, database: peewee.Database) -> Iterator[None]:
    """Within this block (and the threads it hands its context to), `db` is `database`
    (after `allow_routes`)."""
    assert isinstance(db, RoutedDatabaseProxy), "allow_routes() first"
    token = _ROUTE.set((name, database))
    try:
        yield
    finally:
        _ROUTE.reset(token)


def route_name() -> str:
    """The name of the route in force ("" outside one): what keeps caches apart."""
    route = _ROUTE.get()
    return "" if route is None else route[0]


log = logging.getLogger("alien.db")


def reset_after_fork() -> None:
    """In a forked child (gunicorn --preload, or any fork of a process that has connected):
    point `db` at a fresh pool (or SQLite database object) built like the parent's, so the
    child opens its own connections (SQLite's own rule too: a connection never crosses a fork).

    The parent's pool is left as it is, not closed: its sockets are the parent's sessions, and
    two processes on one connection corrupt both (psycopg does not close a connection that is
    garbage-collected in another process). A fresh pool also brings fresh locks: a lock another
    thread held at the fork stays held in the child. Only public peewee calls: a new database
    object and `DatabaseProxy.initialize`.
    """
    parent = db.obj
    if isinstance(parent, CheckedPooledPostgresqlDatabase | SqliteWalDatabase):
        _PARENTS.append(parent)  # never collected here: collecting would close its connections
        db.initialize(parent.fresh())


_PARENTS: list[peewee.Database] = []


# Registered at import rather than as a gunicorn `post_fork` hook so that every fork is
# covered the same way (gunicorn's workers, --preload, a test's or a tool's own fork).
os.register_at_fork(after_in_child=reset_after_fork)


def advisory_lock(name: str, shared: bool = False) -> None:
    """Take the lock called `name` until the current transaction ends.

    PostgreSQL: a transaction-scoped advisory lock keyed by the name and the current schema,
    so one holder at a time across every process and instance (`shared` holders coexist with
    each other, not with an exclusive one), while services in other schemas of the same database
    never wait. SQLite: nothing to do, its IMMEDIATE transactions already run one at a time.
    """
    assert db.in_transaction(), "advisory_lock must run inside a transaction"
    if not is_postgres():
        return
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    db.execute_sql(
        f"SELECT {function}(hashtext(%s), hashtext(coalesce(current_schema(), '')))", (name,)
    )


#: Failures of the database itself, not of the code using it: a lost or refused connection,
#: a busy database, an exhausted pool. An IntegrityError or ProgrammingError is a bug, and stays
#: an unexpected error.
DATABASE_FAILURES: tuple[type[Exception], ...] = (
    peewee.OperationalError,
    peewee.InterfaceError,
    MaxConnectionsExceeded,
)


def failure_summary(exc: BaseException) -> str:
    """A few words on a database failure for a client: never SQL, a table, a host or a path."""
    if isinstance(exc, MaxConnectionsExceeded):
        return "no database connection available"
    if is_commit_unknown(exc):
        return "the connection was lost while committing: the change may have been saved"
    if isinstance(exc, peewee.OperationalError) and "locked" in str(exc):
        return "database is busy"
    if is_disk_full(exc):
        return "no space left for the database"
    return "database unavailable"


def is_disk_full(exc: BaseException) -> bool:
    """Whether the database could not write for want of space (SQLite's SQLITE_FULL, "database
    or disk is full"; PostgreSQL's "No space left on device"): a state that passes when space is
    freed, so a retryable 503 (docs/behaviour.md §12)."""
    text = str(exc)
    return isinstance(exc, peewee.OperationalError) and (
        "disk is full" in text or "No space left on device" in text
    )


def is_commit_unknown(exc: BaseException) -> bool:
    """Whether a failure leaves a write's outcome unknown (lost during COMMIT): retrying it
    could apply it twice."""
    return isinstance(exc, CommitOutcomeUnknown)


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def locking(query: peewee.Select, skip_locked: bool = False) -> peewee.Select:
    """Row locks where the engine has them (PostgreSQL); SQLite's IMMEDIATE transactions
    already serialise writers, so the same query runs unlocked there."""
    if not is_postgres():
        return query
    return query.for_update(skip_locked=skip_locked or None)


@contextmanager
def request_connection() -> Iterator[None]:
    """The database for one request (a handler, a token lookup).

    SQLite: the thread's own connection, opened on its first request and kept until the thread
    ends: opening one costs more than most requests (the file, its WAL, the pragmas), and a
    thread serves one request at a time. At its end the request's cursors are closed and
    whatever it left open (a bug) is rolled back (`SqliteWalDatabase.end_request`), so the
    next request starts as on a new connection. PostgreSQL: a connection from the pool,
    returned at the end.
    """
    database = db.obj
    try:
        if not isinstance(database, SqliteWalDatabase):
            with db.connection_context():
                yield
            return
        database.connect(reuse_if_open=True)
        try:
            yield
        finally:
            database.end_request()
    finally:
        revocation.settle()


@contextmanager
def queued_write() -> Iterator[None]:
    """A lone write (no transaction around it) that waits in the writers' queue on SQLite.

    A transaction takes SQLite's writer lock (`WriterLock`) at BEGIN and hands it straight to
    the next. A lone statement is left to SQLite's busy handler, which retries after sleeps of 1,
    2, 5 ... 100 ms: against a stream of transactions it loses again and again. That is cheap
    for a lone write among lone writes, so most stay there (queueing every one cost group
    creations more than it saved, docs/performance.md), but a write that competes with a stream
    of transactions goes through here: a sync release, between acquires and reconciles.
    PostgreSQL: nothing to do, its row locks queue in order.
    """
    database = db.obj
    in_transaction = isinstance(database, SqliteWalDatabase) and (
        database.connection().in_transaction  # type: ignore[no-untyped-call]
    )
    if not isinstance(database, SqliteWalDatabase) or in_transaction:
        yield
        return
    database.writer.acquire()
    try:
        yield
    finally:
        database.writer.release()


def bind_database(database: peewee.Database) -> None:
    """Point the proxy at `database`, closing whatever it pointed at before (a factory may
    run more than once in one process: tests, the admin-token command)."""
    previous = db.obj
    if previous is not None and previous is not database:
        if isinstance(previous, PooledPostgresqlDatabase | SqliteWalDatabase):
            previous.close_all()
        elif not previous.is_closed():
            previous.close()
    db.initialize(database)


#: Below this much free space where SQLite's file lives, `/ready` says the disk is full: a
#: write may need a few pages of journal and WAL, so "not quite zero" already fails writes.
MIN_FREE_BYTES = 1024 * 1024


def space_left() -> bool:
    """Whether SQLite's file has room to be written (docs/behaviour.md §12, "A full disk");
    always True on PostgreSQL, whose disk is the database server's."""
    if not isinstance(db.obj, peewee.SqliteDatabase):
        return True
    directory = os.path.dirname(os.path.abspath(db.obj.database))
    try:
        return shutil.disk_usage(directory).free >= MIN_FREE_BYTES
    except OSError:
        return True  # unreadable here: the database's own answer decides


def answers() -> bool:
    """Whether the database answers one round trip now (docs/behaviour.md §12: `/ready`).
    Any failure at all means "not ready", so every exception is an answer here."""
    try:
        with db.connection_context():
            db.execute_sql("SELECT 1")
    except Exception as exc:  # readiness reports a failure, it does not raise one
        log.warning("readiness: the database does not answer: %s", type(exc).__name__)
        return False
    return True
