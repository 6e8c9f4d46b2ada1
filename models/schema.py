"""Versioned migrations and first-start bootstrap, safe when many workers start at once.

Both run under `exclusive()`: an IMMEDIATE transaction on SQLite (one writer at a time across
processes) or a transaction-scoped advisory lock on PostgreSQL (one starter at a time across
instances; keyed by the schema, so services in other schemas of the same database do not wait).
DDL is transactional on both, so a migration is all or nothing, and a starter that waited sees
the tables and the admin token the first one committed.

A new database gets every table as the models define them now and is recorded at the latest
version. An older database gets, in order, the migrations it has not seen: every change to a
model's columns comes with a new numbered migration here (playhouse.migrate), never silently.
tests/models/test_tokens.py upgrades a version-1 database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as alter

from models import clock, revocation
from models.base import BaseModel
from models.db import advisory_lock, db
from models.deployments import Deployment
from models.fields import TimestampField
from models.groups import DeploymentGroup
from models.history import StatusChange
from models.releases import Release, ReleasePlatform
from models.tokens import ADMIN, Token

STARTUP_LOCK = "alien:startup"  # the advisory lock starters take (models.db.advisory_lock)
DEV_GROUP_ID = "local-dev"

log = logging.getLogger("alien")


class SchemaMigration(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = TimestampField()


TABLES = [DeploymentGroup, Token, Release, ReleasePlatform, Deployment, StatusChange]


def _initial_tables() -> None:
    """Every table as the models define it now (so a new database skips the later upgrades)."""
    db.create_tables(TABLES)


def _token_revocation() -> None:
    """Token.configured, .last_used_at and .revoked_at (docs/behaviour.md §2: revocation)."""
    migrator = SchemaMigrator.from_database(db.obj)
    table = Token._meta.table_name
    alter(
        migrator.add_column(table, "configured", peewee.BooleanField(default=False)),
        migrator.add_column(table, "last_used_at", TimestampField(null=True)),
        migrator.add_column(table, "revoked_at", TimestampField(null=True)),
    )


def _acquire_indexes() -> None:
    """The indexes acquire reads its candidates through (models/deployments.py, models/sync.py).

    `create_tables` on existing tables only adds the indexes a model declares and the database
    lacks (IF NOT EXISTS), and changes nothing else. On PostgreSQL building them holds off
    writes to deployments until this migration commits (a plain CREATE INDEX: CONCURRENTLY
    cannot run inside the migration's transaction); for a few hundred thousand rows, seconds.
    """
    db.create_tables([Deployment])


def _release_ids_as_text() -> None:
    """A deployment's release ids as TEXT: a worker may report a `currentRelease.releaseId` up
    to the text limit (640), which PostgreSQL's VARCHAR(255) refused (a 500). SQLite never
    enforced the length: nothing to change there."""
    if isinstance(db.obj, peewee.PostgresqlDatabase):
        migrator = SchemaMigrator.from_database(db.obj)
        table = Deployment._meta.table_name
        alter(
            migrator.alter_column_type(table, "current_release_id", peewee.TextField(null=True)),
            migrator.alter_column_type(table, "desired_release_id", peewee.TextField(null=True)),
        )


def _status_history() -> None:
    """The deployments' status history (models/history.py, docs/behaviour.md §6.1)."""
    db.create_tables([StatusChange])


def _unseen_requests() -> None:
    """Deployment.retry_unseen and .redeploy_unseen (docs/behaviour.md §7.2); a column the
    table already has (a database made by a later model) is left as it is."""
    migrator = SchemaMigrator.from_database(db.obj)
    table = Deployment._meta.table_name
    cursor = db.execute_sql(f'SELECT * FROM "{table}" WHERE 1 = 0')
    present = {column[0] for column in cursor.description}
    alter(*(
        migrator.add_column(table, name, peewee.BooleanField(default=False))
        for name in ("retry_unseen", "redeploy_unseen") if name not in present
    ))  # fmt: skip


# Versions need not be contiguous: each is applied once, in order, when not yet recorded.
MIGRATIONS: list[tuple[int, str, Callable[[], None]]] = [
    (1, "initial tables", _initial_tables),
    (2, "token origin, last use, revocation", _token_revocation),
    (3, "acquire's indexes: unleased deployments with work, leases", _acquire_indexes),
    (4, "a deployment's release ids as text", _release_ids_as_text),
    (5, "deployment status history", _status_history),
    (6, "retry and redeploy requests no engine has acquired yet", _unseen_requests),
]


@contextmanager
def exclusive() -> Iterator[None]:
    with db.atomic():
        advisory_lock(STARTUP_LOCK)
        yield


def migrate() -> list[int]:
    """Bring this database to the latest version; return the versions recorded now."""
    with exclusive():
        db.create_tables([SchemaMigration])
        done = {m.version for m in SchemaMigration.select(SchemaMigration.version)}
        todo = [
            (version, name, apply) for version, name, apply in MIGRATIONS if version not in done
        ]
        for version, name, apply in todo:
            if done or version == 1:  # a new database runs only 1: the tables as they are now
                apply()
            SchemaMigration.create(version=version, name=name, applied_at=clock.now())
    return [version for version, _, _ in todo]


def bootstrap(admin_token: str | None, dev_mode: bool) -> str | None:
    """Ensure an admin can get in. Returns a newly minted admin token, exactly once ever.

    With `admin_token` given, that token is registered (idempotently), the one an earlier
    different value registered is revoked, and nothing is minted; a revoked value is refused
    with a warning. Without it, a token the variable registered before stays valid; when no
    admin token is active (all revoked), a new one is minted.
    """
    with exclusive():
        # As the reference's dev mode: a `local-dev` group only for a database with no group.
        if dev_mode and not DeploymentGroup.select().exists():
            DeploymentGroup.create(
                id=DEV_GROUP_ID, name=DEV_GROUP_ID, max_deployments=100, created_at=clock.now()
            )
        if admin_token is None:
            if Token.active().where(Token.kind == ADMIN).exists():
                return None
            return Token.mint(ADMIN)
        if not Token.register_configured_admin(admin_token):
            log.warning("ALIEN_ADMIN_TOKEN holds a revoked token: not accepted (set a new value)")
    revocation.revoked()  # the earlier value it replaced is revoked: running workers forget it
    return None
