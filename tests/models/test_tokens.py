"""Token revocation, the configured admin token, last use, and migration 2 (docs/behaviour.md §2).

On SQLite and PostgreSQL alike (the suite's two passes).
"""

from __future__ import annotations

from collections.abc import Iterator

import peewee
import pytest

from app.settings import Settings
from app.storage import open_storage
from models import clock
from models.base import BaseModel
from models.db import bind_database, db
from models.deployments import Deployment
from models.engines import make_database
from models.fields import TimestampField
from models.groups import DeploymentGroup
from models.releases import Release, ReleasePlatform
from models.schema import MIGRATIONS, SchemaMigration, bootstrap, migrate
from models.tokens import (
    ADMIN,
    DEPLOYMENT,
    GROUP,
    Token,
    TokenSelectionError,
    hash_token,
)

OLD = "ax_admin_" + "1" * 40
NEW = "ax_admin_" + "2" * 40


@pytest.fixture
def storage(settings: Settings) -> Iterator[None]:
    open_storage(settings)
    with db.connection_context():
        yield


def group() -> str:
    return DeploymentGroup.create_new("g").id


def test_a_revoked_token_no_longer_authenticates(storage):
    raw = Token.mint(GROUP, group())
    assert Token.authenticate(raw) is not None
    revoked = Token.revoke(raw[:10])
    assert revoked.kind == GROUP and revoked.prefix == raw[:12]
    assert Token.authenticate(raw) is None


@pytest.mark.parametrize("how", ["prefix", "id", "whole token"])
def test_a_token_is_named_by_prefix_id_or_whole_token(storage, how):
    raw = Token.mint(ADMIN)
    token = Token.get(Token.token_hash == hash_token(raw))
    selector = {"prefix": raw[:12], "id": token.id, "whole token": raw}[how]
    assert Token.revoke(selector).id == token.id
    assert Token.authenticate(raw) is None


def test_an_ambiguous_prefix_revokes_nothing_and_names_the_candidates(storage):
    group_id = group()
    raws = [Token.mint(GROUP, group_id) for _ in range(3)]
    with pytest.raises(TokenSelectionError, match="matches more than one token") as refused:
        Token.revoke("ax_dg_")
    assert all(t.id in str(refused.value) for t in Token.select())
    assert all(Token.authenticate(raw) is not None for raw in raws)


@pytest.mark.parametrize(
    "selector", ["ax_dg_zz", "tok_nope", "ax_admin_" + "f" * 40, "ax_deploy_g"]
)
def test_an_unknown_selector_revokes_nothing(storage, selector):
    raw = Token.mint(DEPLOYMENT, group(), "dep_x")  # hex after the prefix: none above matches
    with pytest.raises(TokenSelectionError, match="no active token matches"):
        Token.revoke(selector)
    assert Token.authenticate(raw) is not None


def test_rotation_leaves_exactly_the_new_admin_token(storage):
    olds = [Token.mint(ADMIN) for _ in range(3)]
    group_token = Token.mint(GROUP, group())
    raw, revoked = Token.rotate_admin()
    assert len(revoked) == 3 and Token.authenticate(raw) is not None
    assert all(Token.authenticate(old) is None for old in olds)
    assert Token.authenticate(group_token) is not None  # only admin tokens rotate


def admins() -> set[str]:
    return {t.token_hash for t in Token.active().where(Token.kind == ADMIN)}


def test_a_changed_admin_token_variable_revokes_the_previous_value(storage):
    minted = Token.mint(ADMIN)  # an admin token from the CLI stays
    bootstrap(OLD, dev_mode=False)
    bootstrap(OLD, dev_mode=False)  # idempotent
    assert admins() == {hash_token(minted), hash_token(OLD)}
    bootstrap(NEW, dev_mode=False)
    assert admins() == {hash_token(minted), hash_token(NEW)}
    assert Token.authenticate(OLD) is None and Token.authenticate(NEW) is not None


def test_a_worker_still_configured_with_a_revoked_value_does_not_undo_the_change(storage, caplog):
    """Rolling a new value out: a worker of an instance not yet restarted may restart itself
    (a crash, max_requests) with the old value. It must not bring the old token back, nor
    revoke the new one."""
    bootstrap(OLD, dev_mode=False)
    bootstrap(NEW, dev_mode=False)
    bootstrap(OLD, dev_mode=False)
    assert Token.authenticate(OLD) is None and Token.authenticate(NEW) is not None
    assert "ALIEN_ADMIN_TOKEN holds a revoked token" in caplog.text


def test_a_revoked_token_is_kept_but_never_accepted_again(storage):
    raw = Token.mint(GROUP, group())
    Token.revoke(raw)
    with pytest.raises(TokenSelectionError, match="no active token matches"):
        Token.revoke(raw)  # already revoked
    assert [t.revoked_at is not None for t in Token.listing(GROUP, revoked=True)] == [True]
    assert Token.listing(GROUP) == [] and Token.authenticate(raw) is None


def test_when_every_admin_token_is_revoked_the_next_start_mints_one(storage):
    Token.revoke(Token.mint(ADMIN))
    minted = bootstrap(None, dev_mode=False)
    assert minted is not None and Token.authenticate(minted) is not None


def test_a_start_without_the_variable_keeps_the_configured_token(storage):
    bootstrap(OLD, dev_mode=False)
    assert bootstrap(None, dev_mode=False) is None  # an admin exists: nothing minted
    assert Token.authenticate(OLD) is not None


def test_a_configured_value_that_was_minted_before_is_adopted(storage):
    raw = Token.mint(ADMIN)
    bootstrap(raw, dev_mode=False)
    bootstrap(NEW, dev_mode=False)
    assert Token.authenticate(raw) is None and admins() == {hash_token(NEW)}


def last_used(raw: str) -> object:
    return Token.get(Token.token_hash == hash_token(raw)).last_used_at


def test_last_use_is_recorded_at_most_once_a_minute(storage):
    raw = Token.mint(GROUP, group())
    assert last_used(raw) is None
    Token.authenticate(raw)
    first = last_used(raw)
    assert first is not None
    for _ in range(5):
        clock.advance(10)
        Token.authenticate(raw)
    assert last_used(raw) == first  # 50 s later: not written again
    clock.advance(11)
    Token.authenticate(raw)
    assert last_used(raw) > first  # type: ignore[operator]


class TokenV1(BaseModel):
    """The token table exactly as version 1 of the schema made it."""

    id = peewee.CharField(primary_key=True)
    kind = peewee.CharField()
    token_hash = peewee.CharField(unique=True)
    prefix = peewee.CharField()
    deployment_group = peewee.ForeignKeyField(DeploymentGroup, null=True, on_delete="CASCADE")
    deployment_id = peewee.CharField(null=True, index=True)
    created_at = TimestampField()

    class Meta:
        table_name = "token"


def test_migration_2_upgrades_a_version_1_database(database_url):
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        db.create_tables(
            [SchemaMigration, DeploymentGroup, TokenV1, Release, ReleasePlatform, Deployment]
        )
        SchemaMigration.create(version=1, name="initial tables", applied_at=clock.now())
        for raw in (OLD, "ax_admin_" + "3" * 40):
            TokenV1.create(
                id=f"tok_{raw[-1]}",
                kind=ADMIN,
                token_hash=hash_token(raw),
                prefix=raw[:12],
                created_at=clock.now(),
            )
        assert "configured" not in {c.name for c in db.get_columns("token", _schema())}

        assert migrate() == [2, 3, 4]
        assert migrate() == []
        assert {c.name for c in db.get_columns("token", _schema())} >= {
            "configured",
            "last_used_at",
        }
        assert Token.authenticate(OLD) is not None and last_used(OLD) is not None
        assert not any(t.configured for t in Token.select())
        # An upgraded database follows the rules: the value in use is adopted, a change revokes it.
        bootstrap(OLD, dev_mode=False)
        bootstrap(NEW, dev_mode=False)
        assert Token.authenticate(OLD) is None and Token.authenticate(NEW) is not None
        assert Token.authenticate("ax_admin_" + "3" * 40) is not None  # not configured: kept
        assert [m.version for m in SchemaMigration.select().order_by(SchemaMigration.version)] == [
            1,
            2,
            3,
            4,
        ]


def test_a_new_database_is_created_at_the_latest_version(database_url):
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        assert migrate() == [version for version, _, _ in MIGRATIONS]
        Token.register(OLD, ADMIN, configured=True)
        assert Token.get().configured is True


def _schema() -> str | None:
    """The schema the tables live in (PostgreSQL tests use one each; peewee defaults to public)."""
    if isinstance(db.obj, peewee.SqliteDatabase):
        return None
    return str(db.execute_sql("SELECT current_schema()").fetchone()[0])
