"""The one database object, its fields, and the transaction helpers.

Everything that knows which database engine is behind the proxy lives here, so the rest of the
models read the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import select
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

import peewee
import psycopg
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase

from models import revocation
from models.errors import NotFound

db = peewee.DatabaseProxy()
log = logging.getLogger("alien.db")

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 30_000,  # a writer waits this long for another's transaction
    "foreign_keys": 1,
    "synchronous": "normal",
}


class BaseModel(peewee.Model):
    #: What `existing` raises for a missing row; each model names its own.
    not_found: ClassVar[type[NotFound]] = NotFound

    class Meta:
        database = db
        legacy_table_names = False

    @classmethod
    def existing(cls, ident: str) -> Self:
        """The row with this primary key, or the model's `not_found` error."""
        row = cls.by_key(ident)
        if row is None:
            raise cls.not_found(ident)
        return row

    @classmethod
    def by_key(cls, ident: str) -> Self | None:
        """The row with this primary key, or None: `get_or_none` on the key, built once per
        model and engine, the row read straight into the model.

        Building the SQL was half the cost of a request's lookup; peewee's cursor wrapper, which
        maps columns to fields from the cursor's description on every query, was about half of
        the rest on PostgreSQL (psycopg builds a Column object per column on each access). The
        columns here are the model's fields in the order the query names them, so neither is
        needed."""
        key = (cls, type(db.obj))
        plan = _BY_KEY.get(key)
        if plan is None:
            fields = cls._meta.sorted_fields
            query = cls.select(*fields).where(cls._meta.primary_key == "").limit(1)
            columns = tuple((f.name, f.python_value) for f in fields)
            plan = _BY_KEY[key] = (query.sql()[0], columns)
        sql, columns = plan
        field = cls._meta.primary_key
        assert isinstance(field, peewee.Field)
        rows = db.execute_sql(sql, (field.db_value(ident), 1)).fetchall()
        if not rows:
            return None
        (found,) = rows
        values = {name: convert(v) for (name, convert), v in zip(columns, found, strict=True)}
        row = cls(__no_default__=1, **values)
        row._dirty.clear()  # type: ignore[attr-defined]  # nothing dirty, as peewee's reads
        return row


#: Per model and engine: the lookup's SQL, and each column's field name and converter.
_BY_KEY: dict[tuple[type, type], tuple[str, tuple[tuple[str, Callable[[Any], Any]], ...]]] = {}


class JSONField(peewee.TextField):
    """JSON stored as text: the same bytes on every engine, no extension needed."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


class ExactText(peewee.TextField):
    """Free text a client chose (names, sessions), stored exactly on every engine.

    PostgreSQL text cannot hold NUL, which JSON strings may carry: NUL and the escape character
    are escaped on the way in. Comparisons go through the same escaping, so lookups still work.
    """

    def db_value(self, value: str | None) -> str | None:
        return None if value is None else value.replace("\\", "\\\\").replace("\x00", "\\0")

    def python_value(self, value: str | None) -> str | None:
        return None if value is None else _UNESCAPE.sub(_unescape, value)


_UNESCAPE = re.compile(r"\\(\\|0)")


def _unescape(match: re.Match[str]) -> str:
    return "\x00" if match.group(1) == "0" else "\\"


class TimestampField(peewee.BigIntegerField):
    """An aware UTC datetime stored as integer microseconds since the epoch.

    Integers sort and compare the same on every engine, which keyset paging and lease expiry
    rely on; strings of datetimes do not (their precision varies with the value).
    """

    def db_value(self, value: datetime | int | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        return round(value.timestamp() * 1_000_000)

    def python_value(self, value: int | None) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(value / 1_000_000, tz=UTC)


class WriterLock:
    """One write transaction at a time on a SQLite file, among this process's threads and every
    process of this machine that uses the same lock file, taken before SQLite's own lock.

    SQLite makes a writer that finds the file locked sleep and retry, 1, 2, 5, 10, 15 ms and on
    (its busy handler): under concurrent writes those sleeps were the slowest requests. Here a
    thread waits on a lock that hands over as soon as it is free, and a process polls the file
    lock every half millisecond. The wait is bounded like SQLite's (`timeout`): past it, the
    same "database is locked" error SQLite raises, answered as before (a retryable
    DATABASE_ERROR, "database is busy").
    """

    POLL_SECONDS = 0.0005

    def __init__(self, path: str | None, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.Lock()
        self._held = threading.local()
        self._fd: int | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(timeout=self.timeout):
            raise peewee.OperationalError("database is locked")
        try:
            fd = self._file()
            while fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise peewee.OperationalError("database is locked") from None
                    time.sleep(self.POLL_SECONDS)
        except BaseException:
            self._threads.release()
            raise
        self._held.value = True

    def release(self) -> None:
        """Idempotent per thread: a failed COMMIT is followed by a ROLLBACK, which releases too."""
        if not getattr(self._held, "value", False):
            return
        self._held.value = False
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int | None:
        if self.path is None:
            return None
        if self._fd is None:  # not a SQLite file: closing it would drop no database lock
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd


class SqliteWalDatabase(peewee.SqliteDatabase):
    """SQLite that survives several processes opening a brand-new file at once.

    Switching a new file to WAL takes an exclusive lock, and when two connections race for it
    SQLite answers "database is locked" at once, without waiting out the busy timeout (it would
    deadlock otherwise). Once the file is in WAL mode the pragma costs nothing, so only the very
    first starts ever retry here.
    """

    def create_private(self) -> None:
        """Create the database file, if missing, readable by its owner only (0600; SQLite gives
        its -wal and -shm files the same mode).

        Only ever before this process opens a connection (`make_database`): closing any
        descriptor of a SQLite file drops every POSIX lock the process holds on it, so doing
        this while other threads' connections hold locks lets two writers in at once (seen:
        overfilled groups and "disk I/O error" under concurrent creates).
        """
        if self.database == ":memory:" or self.database.startswith("file:"):
            return
        try:
            os.close(os.open(self.database, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
        except OSError:  # there already, or a path that cannot be: the first connect says which
            pass

    def __init__(self, database: str, **kwargs: Any) -> None:
        # A thread keeps its connection across requests (`request_connection`), and whoever
        # rebinds the proxy or forks closes them all (`close_all`), from any thread.
        kwargs.setdefault("check_same_thread", False)
        self.arguments = (database, dict(kwargs))
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._cursors = threading.local()  # this thread's cursors since its request began
        super().__init__(database, **kwargs)
        on_disk = not (database == ":memory:" or database.startswith("file:"))
        lock_file = database + "-writer" if on_disk else None
        self.writer = WriterLock(lock_file, kwargs.get("timeout", 5))

    def begin(self, lock_type: str | None = None) -> None:
        self.writer.acquire()
        try:
            super().begin(lock_type)  # type: ignore[misc]
        except BaseException:
            self.writer.release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.writer.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.writer.release()

    def _connect(self) -> Any:
        conn = super()._connect()  # type: ignore[misc]
        with self._opened_lock:
            self._opened.append(conn)
        return conn

    def cursor(self, named_cursor: Any = None) -> Any:
        cursor = super().cursor(named_cursor)
        self._cursors.__dict__.setdefault("opened", []).append(cursor)
        return cursor

    def end_request(self) -> None:
        """Leave this thread's connection as a new one: every cursor of the request closed, and
        a transaction left open (a bug) rolled back.

        A cursor not read to its end keeps its statement, and with it a read snapshot, open on
        the connection; a connection that lives on would then read stale rows, and a write's
        BEGIN would fail as "database is locked" (SQLite cannot move an old snapshot forward).
        A cursor lives as long as whatever still refers to it, so it is closed here, not left
        to the collector."""
        opened: list[Any] = self._cursors.__dict__.pop("opened", [])
        for cursor in opened:
            cursor.close()
        if self.connection().in_transaction:
            self.rollback()

    def _close(self, conn: Any) -> None:
        self._cursors.__dict__.pop("opened", None)
        with self._opened_lock:
            if conn in self._opened:
                self._opened.remove(conn)
        super()._close(conn)  # type: ignore[misc]

    def fresh(self) -> SqliteWalDatabase:
        """A new database object for the same file, with no connections (a forked child)."""
        database, kwargs = self.arguments
        return type(self)(database, **kwargs)

    def close_all(self) -> None:
        """Close every connection any thread of this process opened (a rebind, tests)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            try:
                conn.close()
            except sqlite3.Error:  # in use by a thread right now: it goes with its thread
                pass

    def _set_pragmas(self, conn: Any) -> None:
        for attempt in range(1, 100):
            try:
                super()._set_pragmas(conn)  # type: ignore[misc]
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                time.sleep(min(0.01 * attempt, 0.2))
        super()._set_pragmas(conn)  # type: ignore[misc]


class CheckedPooledPostgresqlDatabase(PooledPostgresqlDatabase):
    """Peewee's PostgreSQL pool (psycopg 3) that never hands out a dead connection.

    A terminated backend or a restarted server leaves a pooled connection looking open until it
    is used. Every check-out therefore rolls back whatever a previous user left open and looks
    at the idle socket (`_has_unread_input`): a dead connection has its goodbye waiting there,
    and only then is a round trip made; if that fails, the connection is dropped and the next
    is tried, or a new one opened. A connection that breaks while in use fails that one
    request; on check-in peewee sees its unknown transaction status and closes it instead of
    pooling it. So after an outage each
    worker recovers on its next request, without a restart.

    Written out here rather than inherited so the guarantee does not depend on which peewee
    release happens to ping (4.5.3's adapter does; older ones only looked at a local flag).
    """

    #: Told the number of connections checked out after every check-out and check-in (metrics).
    on_in_use_change: Callable[[int], None] | None = None

    def connect(self, reuse_if_open: bool = False) -> bool:
        opened = super().connect(reuse_if_open)
        self._tell_in_use()
        return bool(opened)

    def close(self) -> bool:
        closed = super().close()
        self._tell_in_use()
        return bool(closed)

    def _tell_in_use(self) -> None:
        if self.on_in_use_change is not None:
            self.on_in_use_change(len(self._in_use))

    def __init__(self, database: str, **params: Any) -> None:
        super().__init__(database, **params)
        self.arguments = (database, params)

    def fresh(self) -> CheckedPooledPostgresqlDatabase:
        """A new, empty pool built with the same arguments (for a forked child)."""
        database, params = self.arguments
        fresh = type(self)(database, **params)
        fresh.on_in_use_change = self.on_in_use_change
        return fresh

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        # A lookup by a value holding NUL (an id from a client) cannot match: nothing stored
        # holds NUL (ExactText escapes it). PostgreSQL would refuse the parameter outright.
        if params and any(isinstance(p, str) and "\x00" in p for p in params):
            params = [p.replace("\x00", "\ufffd") if isinstance(p, str) else p for p in params]
        return super().execute_sql(sql, params)

    def _is_closed(self, conn: Any) -> bool:
        if conn.closed:
            return True
        try:
            if conn.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                conn.rollback()
            if not _has_unread_input(conn.pgconn.socket):
                return False
            conn.execute("SELECT 1")  # something arrived while idle: its goodbye, or a notice
        except (psycopg.Error, OSError):
            return True
        return False


def _has_unread_input(socket: int) -> bool:
    """Whether an idle connection's socket has something to read, without waiting.

    The server says nothing to a healthy idle session. A terminated backend or a restarting
    server sends its FATAL error and closes, so a dead connection is readable at once, and a
    poll (a system call) finds it where a `SELECT 1` (a round trip per check-out, a third of
    a request's database time) used to. Only input that is there makes the round trip, to
    tell a goodbye from a notice; a silent partition stalls a query either way."""
    poller = select.poll()
    poller.register(socket, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


#: Pool settings (playhouse.pool) and libpq defaults; the URL's query string may override each.
POOL_DEFAULTS: dict[str, Any] = {"stale_timeout": 300, "timeout": 10}
LIBPQ_DEFAULTS: dict[str, Any] = {"connect_timeout": 10}
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgres+pool", "postgresql+pool")


def make_database(url: str, max_connections: int = 8) -> peewee.Database:
    """Build the engine object for a `DATABASE_URL` (sqlite:///path or postgresql://...).

    PostgreSQL: a pool per process of at most `max_connections` (a request holds one at a time;
    a request that finds them all busy waits up to `timeout` seconds for one), connections
    recycled after `stale_timeout` seconds. Every other query-string parameter is a libpq one
    (`sslmode`, `application_name`, `options=-c search_path=...`, ...), passed through as is.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        params = parse_db_url(url)
        sqlite = SqliteWalDatabase(
            params["database"], pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE", timeout=30
        )
        sqlite.create_private()
        return sqlite
    if scheme in POSTGRES_SCHEMES:
        params = parse_db_url(url, unquote_password=True, unquote_user=True)
        params["database"] = unquote(params["database"])
        if not params["database"]:
            raise ValueError("DATABASE_URL names no database (postgresql://user@host:5432/NAME)")
        params.pop("prefer_psycopg3", None)
        params.setdefault("max_connections", max_connections)
        for key, value in (POOL_DEFAULTS | LIBPQ_DEFAULTS).items():
            params.setdefault(key, value)
        return CheckedPooledPostgresqlDatabase(prefer_psycopg3=True, **params)
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r} (use sqlite:// or postgresql://)")


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
    if isinstance(exc, peewee.OperationalError) and "locked" in str(exc):
        return "database is busy"
    return "database unavailable"


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

    SQLite: the thread's own connection, opened on its first request and kept: opening one
    costs more than most requests (the file, its WAL, the pragmas), and a thread serves one
    request at a time. At its end the request's cursors are closed and whatever it left open (a
    bug) is rolled back (`SqliteWalDatabase.end_request`), so the next request starts as on a
    new connection. PostgreSQL: a connection from the pool, returned at the end.
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
    for a lone write among lone writes, so most stay there (putting every one in the queue cost
    18% of a two-worker bench's group creations), but a write that competes with a stream of
    transactions goes through here: a sync release, between acquires and reconciles, waited up
    to 370 ms before. PostgreSQL: nothing to do, its row locks queue in order.
    """
    database = db.obj
    if not isinstance(database, SqliteWalDatabase) or database.connection().in_transaction:
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
