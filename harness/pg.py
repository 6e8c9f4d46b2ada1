"""PostgreSQL for the test suite: where the server is, and a fresh schema per test.

`ALIEN_TEST_POSTGRES_URL` names a server and a database we may create databases from
(default: postgresql://postgres@127.0.0.1:5432/test, as CI has). Each test run creates its own
database, and each test its own schema in it, so runs and tests never see each other's rows.

`python -m harness.pg` exits 0 when the server is reachable (the Makefile's probe).
PostgreSQL-only test modules (tests/test_postgres_*.py) are marked `pg.only()`: skipped on the
SQLite pass, run in the PostgreSQL pass of `make test`.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def backend() -> str:
    """The database this pytest run is for (the Makefile runs the suite once per backend)."""
    return os.environ.get("ALIEN_TEST_DB", "sqlite")


ONLY_REASON = "PostgreSQL only: runs in the ALIEN_TEST_DB=postgres pass of `make test`"
ONCE_REASON = (
    "storage-independent (serving, logs, browser, the engine's own logic): runs once, in the "
    "SQLite pass of `make test`"
)


def only() -> Any:
    """The mark of a PostgreSQL-only module (`pytestmark = [pg.only(), ...]`): a plain skip on
    the SQLite pass (which pytest -ra folds into one line per module), nothing on PostgreSQL."""
    import pytest

    return pytest.mark.skip(reason=ONLY_REASON) if backend() != "postgres" else pytest.mark.postgres


def once() -> Any:
    """The mark of a module whose behaviour does not depend on the database (the HTTP serving
    layer, the log format, the browser, the simulated engine's own logic): it runs in the SQLite
    pass and is skipped, with one line, in the PostgreSQL pass, to keep `make test` short.
    Everything that stores or locks runs on both."""
    import pytest

    return pytest.mark.skip(reason=ONCE_REASON) if backend() == "postgres" else pytest.mark.slow


def admin_url() -> str:
    return os.environ.get("ALIEN_TEST_POSTGRES_URL") or DEFAULT_URL


def _conninfo(url: str) -> str:
    return url.replace("postgresql+pool://", "postgresql://", 1)


def connect(url: str) -> Any:
    """A plain autocommit psycopg connection to `url` (a DATABASE_URL, schema options and all),
    for looking behind the API's back: counting rows, terminating backends."""
    import psycopg

    return psycopg.connect(_conninfo(url), autocommit=True)


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


def with_params(url: str, **params: str) -> str:
    """`url` with more query-string (libpq) parameters, e.g. application_name."""
    parts = urlsplit(url)
    extra = "&".join(f"{key}={quote(value)}" for key, value in params.items())
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, extra]))))


def with_schema(url: str, schema: str) -> str:
    """A DATABASE_URL whose connections live in `schema` (libpq's `options`)."""
    return with_params(url, options=f"-c search_path={schema}")


PREFIX = "alien_test_"


class TestDatabase:
    """One database for the run; `schema()` hands out fresh schemas inside it.

    The run keeps one connection to its database open until it drops it. A run that died
    before its teardown (killed, timed out) leaves a database nobody is connected to, and the
    next run drops it (`drop_leftovers`); a live run's database is never dropped by another,
    since DROP DATABASE without FORCE refuses one in use.
    """

    __test__ = False

    def __init__(self) -> None:
        self.name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = with_database(admin_url(), self.name)
        self._guard: Any = None

    def _admin(self, sql: str) -> None:
        with connect(admin_url()) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')
        self._guard = connect(self.url)

    def drop(self) -> None:
        if self._guard is not None:
            self._guard.close()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    def drop_leftovers() -> list[str]:
        """Drop earlier runs' databases that no one is connected to; return their names."""
        import psycopg

        dropped = []
        with connect(admin_url()) as conn:
            names = conn.execute(
                "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PREFIX,)
            ).fetchall()
            for (name,) in names:
                if _local_process_alive(name.removeprefix(PREFIX).split("_")[0]):
                    continue
                try:
                    conn.execute(f'DROP DATABASE "{name}"')
                except psycopg.errors.ObjectInUse:
                    continue
                dropped.append(name)
        return dropped

    def schema(self) -> tuple[str, str]:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with connect(self.url) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        return schema, with_schema(self.url, schema)

    def drop_schema(self, schema: str) -> None:
        with connect(self.url) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _local_process_alive(pid: str) -> bool:
    """Belt and braces for `drop_leftovers`: a run on this machine that is still alive."""
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(0 if reachable() else 1)
