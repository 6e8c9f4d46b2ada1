"""Versioned migrations and first-start bootstrap, safe when many workers start at once.

Both run under `exclusive()`: an IMMEDIATE transaction on SQLite (one writer at a time across
processes) or a transaction-scoped advisory lock on PostgreSQL (one starter at a time across
instances; keyed by the schema, so services in other schemas of the same database do not wait).
DDL is transactional on both, so a migration is all or nothing, and a starter that waited sees
the tables and the admin token the first one committed.

Migration 1 creates the tables as the models define them at version 1. Any later change to a
model's columns comes with a new numbered migration here (playhouse.migrate), never silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import peewee

from models import clock
from models.db import BaseModel, TimestampField, advisory_lock, db
from models.deployments import Deployment
from models.groups import DeploymentGroup
from models.releases import Release, ReleasePlatform
from models.tokens import ADMIN, Token, hash_token

STARTUP_LOCK = "alien:startup"  # the advisory lock starters take (models.db.advisory_lock)
DEV_GROUP_ID = "local-dev"


class SchemaMigration(BaseModel):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.TextField()
    applied_at = TimestampField()


def _initial_tables() -> None:
    db.create_tables([DeploymentGroup, Token, Release, ReleasePlatform, Deployment])


MIGRATIONS: list[tuple[int, str, Callable[[], None]]] = [
    (1, "initial tables", _initial_tables),
]


@contextmanager
def exclusive() -> Iterator[None]:
    with db.atomic():
        advisory_lock(STARTUP_LOCK)
        yield


def migrate() -> list[int]:
    """Apply the migrations this database has not seen; return their versions."""
    applied = []
    with exclusive():
        db.create_tables([SchemaMigration])
        done = {m.version for m in SchemaMigration.select(SchemaMigration.version)}
        for version, name, apply in MIGRATIONS:
            if version not in done:
                apply()
                SchemaMigration.create(version=version, name=name, applied_at=clock.now())
                applied.append(version)
    return applied


def bootstrap(admin_token: str | None, dev_mode: bool) -> str | None:
    """Ensure an admin can get in. Returns a newly minted admin token, exactly once ever.

    With `admin_token` given, that token is registered (idempotently) and nothing is minted.
    """
    with exclusive():
        # As the reference's dev mode: a `local-dev` group only for a database with no group.
        if dev_mode and not DeploymentGroup.select().exists():
            DeploymentGroup.create(
                id=DEV_GROUP_ID, name=DEV_GROUP_ID, max_deployments=100, created_at=clock.now()
            )
        if admin_token is not None:
            if not Token.select().where(Token.token_hash == hash_token(admin_token)).exists():
                Token.register(admin_token, ADMIN)
            return None
        if Token.select().where(Token.kind == ADMIN).exists():
            return None
        return Token.mint(ADMIN)
