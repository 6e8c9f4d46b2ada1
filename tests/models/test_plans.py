"""List pages and acquire read through indexes, so they cost the same in a large table as in a
small one: the plans both engines choose for the statements the models really run.

Each test records the SELECTs a model call sends to the database and asks the engine to
explain them: SQLite `EXPLAIN QUERY PLAN`, PostgreSQL `EXPLAIN`. On PostgreSQL the session
turns sequential scans and sorts off (`SET LOCAL enable_seqscan = off`, `enable_sort = off`,
...): a table of this size is cheaper to read whole, so without that the planner's cost choice,
not the indexes, would decide the plan. The tests are about whether the index can serve the
query: with sorts off, a query no index can return in order still gets its Sort node, and one
no index can seek still gets its filter. Runs on both engines (the suite's two passes).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import peewee
import pytest

from app.settings import Settings
from app.storage import open_storage
from models import clock, sync
from models.db import bind_database, db, is_postgres
from models.deployments import Deployment
from models.engines import make_database
from models.groups import DeploymentGroup
from models.paging import encode_cursor
from models.schema import MIGRATIONS, TABLES, SchemaMigration, migrate
from models.tokens import ADMIN, GROUP, Caller

TTL = 300
STATUSES = ["pending", "running", "running", "update-pending", "provisioning-failed", "deleted"]
ACQUIRE_INDEXES = [
    "deployment_acquirable_by_group",
    "deployment_acquirable",
    "deployment_lease_holder",
    "deployment_lease_age",
]


@pytest.fixture
def storage(settings: Settings) -> Iterator[None]:
    open_storage(settings)
    with db.connection_context():
        yield


def seed(groups: int = 2, per_group: int = 300) -> list[str]:
    """Groups of deployments in every kind of state: statuses with and without work, retries
    requested, the oldest third leased by another session, one in ten of those leases stale.
    Returns the group ids."""
    now = clock.now()
    stale = now - timedelta(seconds=2 * TTL)
    micros = round(now.timestamp() * 1_000_000)
    ids = []
    for g in range(groups):
        group = DeploymentGroup.create_new(f"g{g}", max_deployments=per_group)
        ids.append(group.id)
        rows: list[dict[str, Any]] = [
            {
                "id": f"dep_{uuid.uuid4()}",
                "name": f"d{i}",
                "deployment_group": group.id,
                "platform": "aws",
                "status": STATUSES[i % len(STATUSES)],
                "stack_settings": {},
                "retry_requested": i % 4 == 0,
                "locked_by": "other" if i < per_group // 3 else None,
                "locked_at": (stale if i % 10 == 0 else now) if i < per_group // 3 else None,
                "created_at": micros + i,
            }
            for i in range(per_group)
        ]
        with db.atomic():
            Deployment.insert_many(rows).execute()
    db.execute_sql("ANALYZE")
    return ids


def selects(call: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """The SELECTs on deployments and groups that `call` runs, as (sql, params)."""
    seen: list[tuple[str, Any]] = []
    run = db.obj.execute_sql

    def recording(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        if sql.lstrip("(").startswith("SELECT"):
            seen.append((sql, params))
        return run(sql, params, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(db.obj, "execute_sql", recording)
        call()
    return seen


ORDERED = ("enable_seqscan", "enable_sort", "enable_incremental_sort")


def plan(sql: str, params: Any, off: tuple[str, ...] = ORDERED) -> str:
    """The engine's plan for one statement, one line per step; on PostgreSQL with the planner
    settings `off` turned off (see the module's docstring)."""
    with db.atomic():
        if not is_postgres():
            rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            return "\n".join(row[-1] for row in rows)
        for setting in off:
            db.execute_sql(f"SET LOCAL {setting} = off")
        rows = db.execute_sql("EXPLAIN " + sql, params).fetchall()
        return "\n".join(row[0] for row in rows)


def reads_in_order(explained: str, index: str) -> bool:
    """Whether the plan reads through `index` and needs no sort for its ORDER BY."""
    if is_postgres():
        uses = re.search(rf"Index (Only )?Scan (Backward )?using {index} ", explained)
        return uses is not None and "Sort" not in explained
    uses = re.search(rf"USING (COVERING )?INDEX {index}\b", explained)
    return uses is not None and "TEMP B-TREE" not in explained


def seeks(explained: str) -> bool:
    """Whether the index is entered at the cursor (the row-value comparison is an index
    condition), rather than read from its start with the cursor as a filter."""
    if is_postgres():
        conditions = [line for line in explained.splitlines() if "Index Cond:" in line]
        return any("ROW(" in line for line in conditions) and "Filter:" not in explained
    return "(created_at,id)<(?,?)" in explained


def deep_cursor(model: Any, query: peewee.Select) -> str:
    row = query.order_by(model.created_at.desc(), model.id.desc()).offset(100).first()
    return encode_cursor(model.created_at.db_value(row.created_at), row.id)


@pytest.mark.parametrize("scoped", [True, False], ids=["a group's list", "all deployments"])
def test_a_deployment_page_is_an_index_seek(storage, monkeypatch, scoped):
    group_id = seed()[0]
    listed = Deployment.select()
    if scoped:
        listed = listed.where(Deployment.deployment_group == group_id)
    cursor = deep_cursor(Deployment, listed)
    only = group_id if scoped else None

    [(sql, params)] = selects(lambda: Deployment.page(only, 50, cursor), monkeypatch)

    explained = plan(sql, params)
    index = "deployment_deployment_group_id_created_at_id" if scoped else "deployment_created_at_id"
    assert reads_in_order(explained, index), explained
    assert seeks(explained), explained


def test_a_group_page_is_an_index_seek(storage, monkeypatch):
    for i in range(200):
        DeploymentGroup.create_new(f"g{i}")
    db.execute_sql("ANALYZE")
    cursor = deep_cursor(DeploymentGroup, DeploymentGroup.select())

    [(sql, params)] = selects(lambda: DeploymentGroup.page(None, 50, cursor), monkeypatch)

    explained = plan(sql, params)
    assert reads_in_order(explained, "deployment_group_created_at_id"), explained
    assert seeks(explained), explained


@pytest.mark.parametrize(
    ("kind", "index"),
    [(GROUP, "deployment_acquirable_by_group"), (ADMIN, "deployment_acquirable")],
)
def test_acquire_walks_only_unleased_deployments_with_work(storage, monkeypatch, kind, index):
    group_id = seed()[0]
    caller = Caller(kind, "tok_test", group_id=group_id if kind == GROUP else None)

    def acquire() -> None:
        assert len(sync.acquire(caller, "fresh", ttl_seconds=TTL)) == sync.DEFAULT_LIMIT

    unleased, leases, leased = selects(acquire, monkeypatch)[:3]

    assert reads_in_order(plan(*unleased), index), plan(*unleased)
    # Leases that are this session's or stale are found through the lease indexes alone, and
    # the deployments that have one fetched by id: neither walks deployments nor live leases.
    explained = plan(*leases, off=("enable_seqscan",))
    if is_postgres():
        steps = ["deployment_lease_holder", "Index Cond: (COALESCE(locked_at, '0'::bigint) < "]
    else:
        steps = ["deployment_lease_holder (locked_by=?)", "deployment_lease_age (<expr><?)"]
    assert all(step in explained for step in steps), explained
    assert "Seq Scan" not in explained and not re.search(r"SCAN t1$", explained, re.M), explained
    explained = plan(*leased, off=("enable_seqscan",))
    by_id = "deployment_pkey" if is_postgres() else "sqlite_autoindex_deployment_1 (id=?)"
    assert by_id in explained or "deployment_lease_" in explained, explained
    assert not re.search(r"deployment_(deployment_group_id|created_at|acquirable)", explained), (
        explained
    )


def test_migration_3_gives_an_existing_database_the_acquire_indexes(database_url, monkeypatch):
    """A database at version 2 (tables as they were, without acquire's indexes) is upgraded,
    and acquire then reads through them."""
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        db.create_tables([SchemaMigration, *TABLES])
        for name in ACQUIRE_INDEXES:
            db.execute_sql(f'DROP INDEX "{name}"')
        for version, name, _ in MIGRATIONS[:2]:
            SchemaMigration.create(version=version, name=name, applied_at=clock.now())
        group_id = seed()[0]

        assert migrate() == [3, 4]
        assert migrate() == []

        caller = Caller(GROUP, "tok_test", group_id=group_id)
        unleased = selects(lambda: sync.acquire(caller, "fresh", ttl_seconds=TTL), monkeypatch)[0]
        explained = plan(*unleased)
        assert reads_in_order(explained, "deployment_acquirable_by_group"), explained
