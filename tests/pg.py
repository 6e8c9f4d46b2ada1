"""PostgreSQL for the test suite: where the server is, and a fresh schema per test.

`ALIEN_TEST_POSTGRES_URL` names a server and a database we may create databases from
(default: postgresql://postgres@127.0.0.1:5432/test, as CI has). Each test run creates its own
database, and each test its own schema in it, so runs and tests never see each other's rows.

`python -m tests.pg` exits 0 when the server is reachable (the Makefile's probe).
"""

from __future__ import annotations

import os
import sys
import uuid
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    return os.environ.get("ALIEN_TEST_POSTGRES_URL") or DEFAULT_URL


def _conninfo(url: str) -> str:
    return url.replace("postgresql+pool://", "postgresql://", 1)


def reachable(url: str | None = None) -> bool:
    import psycopg

    try:
        with psycopg.connect(_conninfo(url or admin_url()), connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def with_schema(url: str, schema: str) -> str:
    """A DATABASE_URL whose connections live in `schema` (libpq's `options`)."""
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, "options=" + quote(f"-c search_path={schema}")]))
    return urlunsplit(parts._replace(query=query))


class TestDatabase:
    """One database for the run; `schema()` hands out fresh schemas inside it."""

    __test__ = False

    def __init__(self) -> None:
        self.name = f"alien_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = with_database(admin_url(), self.name)

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(_conninfo(admin_url()), autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def schema(self) -> tuple[str, str]:
        import psycopg

        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema, with_schema(self.url, schema)

    def drop_schema(self, schema: str) -> None:
        import psycopg

        with psycopg.connect(_conninfo(self.url), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    sys.exit(0 if reachable() else 1)
