"""The one database object, its fields, and the transaction helpers.

Everything that knows which database engine is behind the proxy lives here, so the rest of the
models read the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import peewee
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import PooledPostgresqlDatabase

db = peewee.DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "busy_timeout": 10_000,
    "foreign_keys": 1,
    "synchronous": "normal",
}


class BaseModel(peewee.Model):
    class Meta:
        database = db
        legacy_table_names = False


class JSONField(peewee.TextField):
    """JSON stored as text: the same bytes on every engine, no extension needed."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        return None if value is None else json.loads(value)


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


class CheckedPooledPostgresqlDatabase(PooledPostgresqlDatabase):
    """A pool that never hands out a connection whose server side has gone.

    A terminated backend or a restarted server leaves psycopg's connection looking open until
    it is used; one round trip on check-out finds out and the pool opens a fresh one instead.
    """

    def _is_closed(self, conn: Any) -> bool:
        if super()._is_closed(conn):
            return True
        try:
            conn.execute("SELECT 1")
            conn.rollback()
        except Exception:
            return True
        return False


def make_database(url: str, max_connections: int = 8) -> peewee.Database:
    """Build the engine object for a `DATABASE_URL` (sqlite:///path or postgresql://...)."""
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        params = parse_db_url(url)
        return peewee.SqliteDatabase(
            params["database"], pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE", timeout=10
        )
    if scheme in ("postgres", "postgresql"):
        params = parse_db_url(url)  # query-string options become connect() keywords
        params.setdefault("prefer_psycopg3", True)
        return CheckedPooledPostgresqlDatabase(
            max_connections=max_connections,
            stale_timeout=300,
            timeout=10,
            **params,
        )
    raise ValueError(f"unsupported DATABASE_URL scheme {scheme!r} (use sqlite:// or postgresql://)")


def is_postgres() -> bool:
    return isinstance(db.obj, peewee.PostgresqlDatabase)


def locking(query: peewee.Select, skip_locked: bool = False) -> peewee.Select:
    """Row locks where the engine has them (PostgreSQL); SQLite's IMMEDIATE transactions
    already serialise writers, so the same query runs unlocked there."""
    if not is_postgres():
        return query
    return query.for_update(skip_locked=skip_locked or None)
