"""Fixtures in the database (docs/behaviour.md §13.1, §13.2): load them idempotently, or reset
every table to them in one transaction.

The rows come already checked (app/testmode/fixture_file.py validates a file against the
spec); this module only stores them. Timestamps a fixture leaves out are taken at load time,
one microsecond apart in file order, so lists come back newest-last-in-the-file first, like rows
created in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from peewee import fn

from models import clock, revocation, testkit
from models.db import db
from models.deployments import Deployment
from models.groups import DeploymentGroup
from models.history import StatusChange
from models.releases import Release, ReleasePlatform
from models.schema import exclusive
from models.tokens import ADMIN, Token, fixture_token_id, hash_token

#: Every table a reset empties, children first (admin tokens are kept: §13.2).
TABLES = (StatusChange, ReleasePlatform, Deployment, Token, Release, DeploymentGroup)


@dataclass
class Fixtures:
    groups: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.groups) + len(self.releases) + len(self.deployments) + len(self.tokens)


def prepare() -> None:
    """Test mode's own tables (the shared clock, stubs, the journal), made once by whichever
    starter comes first."""
    with exclusive():
        clock.create_shared_table()
        testkit.create_tables()


def load(fixtures: Fixtures) -> None:
    """Insert every fixture object that is not there yet (by id; tokens by value); leave the
    ones that are as they are. Safe when every worker of every instance loads at start-up."""
    with exclusive():
        _insert(fixtures, clock.now())
        _recount(fixtures)


def reset(fixtures: Fixtures, admin_token: str | None = None) -> None:
    """Empty every table but the admin tokens, put the fixtures back, the shared clock at real
    time, no stubs, an empty journal: one transaction, so a concurrent request sees the state
    before or after."""
    with exclusive():
        for table in TABLES:
            query = table.delete()
            if table is Token:
                query = query.where(Token.kind != ADMIN)
            query.execute()
        clock.reset_shared()
        testkit.reset()
        if (
            admin_token is not None
            and not Token.select().where(Token.token_hash == hash_token(admin_token)).exists()
        ):
            Token.register(admin_token, ADMIN)
        _insert(fixtures, clock.now())  # every table empty: the counts inserted are right
    revocation.revoked()


def _stamp(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    n = len(rows)
    return [
        {**row, "created_at": row["created_at"] or now - timedelta(microseconds=n - i)}
        for i, row in enumerate(rows)
    ]


def _insert(fixtures: Fixtures, now: datetime) -> None:
    counts: dict[str, int] = {}
    for d in fixtures.deployments:
        counts[d["deployment_group"]] = counts.get(d["deployment_group"], 0) + 1
    _bulk(
        DeploymentGroup,
        [{**g, "deployment_count": counts.get(g["id"], 0)} for g in _stamp(fixtures.groups, now)],
    )
    releases = _stamp(fixtures.releases, now)
    _bulk(Release, releases)
    _bulk(
        ReleasePlatform,
        [
            {"release": r["id"], "platform": p, "created_at": r["created_at"]}
            for r in releases
            for p in r["stack"]
        ],
    )
    rows = []
    for d in _stamp(fixtures.deployments, now):
        lease = d.pop("lease")
        locked_by, locked_at = (
            (None, None) if lease is None else (lease[0], now - timedelta(seconds=lease[1]))
        )
        rows.append({**d, "locked_by": locked_by, "locked_at": locked_at, "updated_at": None})
    _bulk(Deployment, rows)
    _bulk(
        Token,
        [
            {
                "id": fixture_token_id(hash_token(t["raw"])),
                "kind": t["kind"],
                "token_hash": hash_token(t["raw"]),
                "prefix": t["raw"][:12],
                "deployment_group": t["group_id"],
                "deployment_id": t["deployment_id"],
                "created_at": now,
            }
            for t in fixtures.tokens
        ],
    )


def _bulk(model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of many rows: the statement built once by Peewee, the
    rows converted by each field's own `db_value` and sent with one `executemany` (building a
    hundred-row INSERT through Peewee's query compiler alone costs more than the database)."""
    if not rows:
        return
    # Peewee's column order; a column the rows leave out but that has a default is in Peewee's
    # INSERT too (with the default), so it is sent with its default here.
    fields = [f for f in model._meta.sorted_fields if f.name in rows[0] or f.default is not None]
    sql = _insert_sql(model, tuple(f.name for f in fields), type(db.obj).__name__)
    params = [tuple(f.db_value(_value(row, f)) for f in fields) for row in rows]
    db.cursor().executemany(sql, params)


def _value(row: dict[str, Any], field: Any) -> Any:
    if field.name in row:
        return row[field.name]
    return field.default() if callable(field.default) else field.default


@cache
def _insert_sql(model: Any, names: tuple[str, ...], engine: str) -> str:
    """The statement for one row of these columns, for this kind of database (placeholders
    and the conflict clause differ)."""
    sql: str = model.insert({name: None for name in names}).on_conflict_ignore().sql()[0]
    return sql


def _recount(fixtures: Fixtures) -> None:
    """Keep each fixture group's deployment_count equal to its deployments (models/groups.py)."""
    ids = [g["id"] for g in fixtures.groups]
    if ids:
        counted = Deployment.select(fn.COUNT(Deployment.id)).where(
            Deployment.deployment_group == DeploymentGroup.id
        )
        DeploymentGroup.update(deployment_count=counted).where(
            DeploymentGroup.id.in_(ids)
        ).execute()
