"""The PostgreSQL engine object (models/engines.py) and the start-up lock (models/schema.py), in
process: which driver and pool `DATABASE_URL` selects, what the URL may say, and how the pool
treats connections whose server side has gone."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import peewee
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from harness import pg
from models.db import db
from models.engines import CheckedPooledPostgresqlDatabase, make_database
from models.schema import STARTUP_LOCK, exclusive

pytestmark = [pg.only(), pytest.mark.postgres]

WAIT = 30  # bound on every poll below, never asserted on


@pytest.fixture
def pool(database_url: str) -> Iterator[Any]:
    database = make_database(database_url, max_connections=3)
    assert isinstance(database, CheckedPooledPostgresqlDatabase)
    yield database
    database.close_all()


def backend_pid(database: Any) -> int:
    return int(database.execute_sql("SELECT pg_backend_pid()").fetchone()[0])


def kill(database_url: str, pid: int) -> None:
    with pg.connect(database_url) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + WAIT
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_postgresql_urls_select_a_psycopg3_pool_with_the_configured_limits(database_url):
    database = make_database(database_url, max_connections=7)
    assert isinstance(database, PooledPostgresqlDatabase)
    assert type(database._adapter).__name__ == "Psycopg3Adapter"
    assert database._max_connections == 7
    assert database._stale_timeout == 300 and database._wait_timeout == 10
    assert database.connect_params["connect_timeout"] == 10


def test_every_postgresql_scheme_is_accepted():
    for scheme in ("postgres", "postgresql", "postgres+pool", "postgresql+pool"):
        database = make_database(f"{scheme}://u@h:5432/alien")
        assert isinstance(database, PooledPostgresqlDatabase) and database.database == "alien"


def test_the_url_carries_credentials_and_libpq_parameters_verbatim():
    database = make_database(
        "postgresql://al%40ice:p%2Fss%3Aw@db.example:6543/my%20db"
        "?sslmode=require&application_name=alien&max_connections=2&connect_timeout=3"
    )
    assert isinstance(database, CheckedPooledPostgresqlDatabase)
    assert database.database == "my db"
    assert database._max_connections == 2  # the URL's word wins over ALIEN_DB_MAX_CONNECTIONS
    assert database.connect_params == {
        "user": "al@ice",
        "password": "p/ss:w",
        "host": "db.example",
        "port": 6543,
        "sslmode": "require",
        "application_name": "alien",
        "connect_timeout": 3,
    }


def test_a_url_without_a_database_name_is_refused():
    with pytest.raises(ValueError, match="names no database"):
        make_database("postgresql://u@h:5432/")


def test_the_options_parameter_reaches_the_server(pool, database_url):
    options = parse_qs(urlsplit(database_url).query)["options"][0]
    schema = options.removeprefix("-c search_path=")
    with pool.connection_context():
        assert pool.execute_sql("SELECT current_schema()").fetchone()[0] == schema


def test_an_idle_pooled_connection_whose_backend_was_terminated_is_replaced(pool, database_url):
    with pool.connection_context():
        first = backend_pid(pool)
    kill(database_url, first)
    with pool.connection_context():
        assert backend_pid(pool) != first
    assert len(pool._connections) == 1  # the dead one was dropped, not kept


def test_a_connection_that_dies_in_a_transaction_is_closed_not_pooled(pool, database_url):
    with pytest.raises((peewee.OperationalError, peewee.InterfaceError)):
        with pool.connection_context(), pool.atomic():
            dying = backend_pid(pool)
            kill(database_url, dying)
            pool.execute_sql("SELECT 1")
    assert pool.is_closed() and not pool.in_transaction()
    assert pool._in_use == {} and pool._connections == []
    with pool.connection_context():
        assert backend_pid(pool) != dying


def test_a_request_waits_for_a_free_connection_rather_than_exceed_the_limit(pool):
    """Three connections at most: a fourth thread waits for one to be given back."""
    holding, release, done = threading.Barrier(4), threading.Event(), threading.Event()

    def hold() -> None:
        with pool.connection_context():
            backend_pid(pool)
            holding.wait(timeout=WAIT)
            release.wait(timeout=WAIT)

    def fourth() -> None:
        with pool.connection_context():
            backend_pid(pool)
        done.set()

    holders = [threading.Thread(target=hold) for _ in range(3)]
    for thread in holders:
        thread.start()
    holding.wait(timeout=WAIT)
    waiter = threading.Thread(target=fourth)
    waiter.start()
    assert len(pool._in_use) == 3 and not done.is_set()
    release.set()
    for thread in [*holders, waiter]:
        thread.join(timeout=WAIT)
    assert done.is_set() and len(pool._connections) == 3


def startup_lock_waiters(database_url: str) -> int:
    with pg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = (hashtext(%s)::bigint & 4294967295)::oid"
            " AND objid = (hashtext(current_schema())::bigint & 4294967295)::oid",
            (STARTUP_LOCK,),
        ).fetchone()
    return int(row[0])


def test_starters_in_one_schema_take_turns_and_other_schemas_do_not_wait(app, database_url):
    """`app`: the proxy is bound to this test's schema, migrated."""
    entered = threading.Event()

    def start() -> None:
        with db.connection_context(), exclusive():
            entered.set()

    with pg.connect(database_url) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(hashtext(%s), hashtext(current_schema()))", (STARTUP_LOCK,)
        )
        starter = threading.Thread(target=start)
        starter.start()
        deadline = time.monotonic() + WAIT
        while not startup_lock_waiters(database_url):
            assert time.monotonic() < deadline, "the starter never waited for the lock"
            time.sleep(0.02)
        assert not entered.is_set()
        holder.execute("SELECT pg_advisory_unlock_all()")
        starter.join(timeout=WAIT)
    assert entered.is_set()

    entered.clear()
    with pg.connect(database_url) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(hashtext(%s), hashtext('some_other_schema'))", (STARTUP_LOCK,)
        )
        starter = threading.Thread(target=start)
        starter.start()
        starter.join(timeout=WAIT)
        assert entered.is_set()


def test_a_forked_child_gets_a_fresh_pool_and_leaves_the_parents_connection_alone(
    app, database_url
):
    """`app`: the proxy is bound to this test's schema. A plain fork (what gunicorn --preload
    does) gives the child its own pool; the parent's pooled connection still works after."""
    parent_pool = db.obj
    with db.connection_context():
        parent_backend = backend_pid(db.obj)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report, never return into pytest
        code = 1
        try:
            with db.connection_context():
                fresh = db.obj is not parent_pool and not db.obj._connections
                code = 0 if fresh and backend_pid(db.obj) != parent_backend else 2
        finally:
            os.write(write, bytes([code]))
            os._exit(code)
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert os.read(read, 1) == b"\x00" and os.waitstatus_to_exitcode(status) == 0
    os.close(read)
    assert db.obj is parent_pool
    with db.connection_context():
        assert backend_pid(db.obj) == parent_backend  # the same pooled connection, unharmed
