"""The two database engines behind `models.db.db`, and `make_database` to build one from a URL.

Everything that knows which engine it runs on lives here and in models/db.py's helpers, so the
rest of the models read the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import fcntl
import os
import select
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import peewee
import psycopg
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import PooledPostgresqlDatabase

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 30_000,  # a writer waits this long for another's transaction
    "foreign_keys": 1,
    "synchronous": "normal",
}


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


class _ThreadEnd:
    """A marker in a thread's thread-local storage: collected when the thread ends."""


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
        self._thread_end = threading.local()  # what closes this thread's connection when it ends
        super().__init__(database, **kwargs)
        on_disk = not (database == ":memory:" or database.startswith("file:"))
        lock_file = database + "-writer" if on_disk else None
        self.writer = WriterLock(lock_file, kwargs.get("timeout", 5))

    def begin(self, lock_type: str | None = None) -> None:
        self.writer.acquire()
        try:
            super().begin(lock_type)
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
        # A connection goes with its thread. Thread pools end idle threads (anyio's, which
        # Starlette runs blocking work on, after 10 s) and start new ones, each opening its own
        # connection: kept here, every one stayed open (a page polling once a second grew a
        # worker by ~200 KB and a file descriptor a minute). When the thread ends, its
        # thread-local goes, and with it this marker, whose finalizer closes the connection.
        marker = _ThreadEnd()
        weakref.finalize(marker, self._forget, conn).atexit = False
        self._thread_end.marker = marker
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        with self._opened_lock:
            if conn not in self._opened:
                return  # closed already (a rebind, close_all)
            self._opened.remove(conn)
        conn.close()

    def cursor(self, named_cursor: Any = None) -> Any:
        cursor = super().cursor(named_cursor)  # type: ignore[no-untyped-call]
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
        if self.connection().in_transaction:  # type: ignore[no-untyped-call]
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


class CommitOutcomeUnknown(peewee.OperationalError):
    """The connection was lost during COMMIT: the transaction may or may not have committed."""


class CheckedPooledPostgresqlDatabase(PooledPostgresqlDatabase):  # type: ignore[misc]  # untyped
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

    def commit(self) -> None:
        """COMMIT; a connection lost while it was on its way leaves the outcome unknown (the
        server may have committed): CommitOutcomeUnknown, which a client must not retry blindly.
        A COMMIT the server refused (a serialisation failure) was rolled back: raised as is."""
        try:
            super().commit()
        except (peewee.OperationalError, peewee.InterfaceError) as exc:
            if self._lost():
                raise CommitOutcomeUnknown(str(exc)) from exc
            raise

    def rollback(self) -> None:
        """ROLLBACK; on a lost connection there is nothing left to roll back (the server ends
        the transaction), and the failure that brought us here is the one to report."""
        try:
            super().rollback()
        except (peewee.OperationalError, peewee.InterfaceError):
            if not self._lost():
                raise

    def _lost(self) -> bool:
        connection = self._state.conn
        return connection is None or bool(connection.closed or connection.broken)

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
    poll (a system call) finds it where a `SELECT 1` (a round trip per check-out) used to. Only
    input that is there makes the round trip, to tell a goodbye from a notice; a silent
    partition stalls a query either way."""
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
