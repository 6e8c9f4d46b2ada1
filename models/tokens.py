"""Bearer tokens, the callers they authenticate, and their revocation (docs/behaviour.md §2).

Only sha256(token) and a 12-character display prefix are stored; the raw token exists only in
the response (or the first-start message) that mints it. Revoking marks the record (kept, so a
revoked value is never accepted again), and whatever revokes or deletes tokens says so
(`models.revocation.revoked`), which the server's short lookup cache obeys (app/http/auth.py): a
revoked token fails at once on every worker of the instance, and within a second on other
instances sharing the database. `last_used_at` is kept to the minute: an
authentication writes it only when the stored value is a minute old, with one conditional
UPDATE, so requests do not each write.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import peewee

from models import clock, revocation
from models.base import BaseModel
from models.db import db
from models.errors import (
    ACCESS_DENIED,
    ADMIN_REQUIRED,
    ANY_GROUP_TOKEN_REQUIRED,
    GROUP_TOKEN_REQUIRED,
    Forbidden,
)
from models.fields import TimestampField
from models.groups import DeploymentGroup

ADMIN, GROUP, DEPLOYMENT = "admin", "deployment-group", "deployment"
PREFIXES = {ADMIN: "ax_admin_", GROUP: "ax_dg_", DEPLOYMENT: "ax_deploy_"}
DISPLAYED = 12  # characters of a token kept for display
LAST_USED_EVERY = timedelta(minutes=1)


class TokenSelectionError(LookupError):
    """A revocation named no token, or more than one."""


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


#: A fixture token's record id is derived from the token (models/fixture_store.py), so loading
#: a file twice finds the same record, and the record says where it came from.
FIXTURE_NAMESPACE = uuid.UUID("6f1d3c52-5b0e-4f3e-9a8e-0d6c1c7e4a11")
_fixture_tokens_accepted = False


def fixture_token_id(digest: str) -> str:
    return f"tok_{uuid.uuid5(FIXTURE_NAMESPACE, digest)}"


def accept_fixture_tokens(accepted: bool) -> None:
    """Whether tokens loaded from a fixture file authenticate: only in test mode (set at every
    start, app/storage.py)."""
    global _fixture_tokens_accepted
    _fixture_tokens_accepted = accepted


class Token(BaseModel):
    id = peewee.CharField(primary_key=True)
    kind = peewee.CharField()
    token_hash = peewee.CharField(unique=True)
    prefix = peewee.CharField()
    # The group of a DG token, and the group of a deployment token's deployment.
    deployment_group = peewee.ForeignKeyField(DeploymentGroup, null=True, on_delete="CASCADE")
    deployment_group_id: str | None
    deployment_id = peewee.CharField(null=True, index=True)
    created_at = TimestampField()
    # Since migration 2: registered from ALIEN_ADMIN_TOKEN (so a new value can revoke it); when
    # it last authenticated, to the minute; when it was revoked (kept, so a revoked value is
    # never accepted again, not even from the configuration).
    configured = peewee.BooleanField(default=False)
    last_used_at = TimestampField(null=True)
    revoked_at = TimestampField(null=True)

    @classmethod
    def active(cls) -> peewee.ModelSelect[Token]:
        return cls.select().where(cls.revoked_at.is_null())

    @classmethod
    def mint(cls, kind: str, group_id: str | None = None, deployment_id: str | None = None) -> str:
        """Create a token record and return the raw token (the only time it is known)."""
        raw = PREFIXES[kind] + secrets.token_hex(20)
        cls.register(raw, kind, group_id, deployment_id)
        return raw

    @classmethod
    def register(
        cls,
        raw: str,
        kind: str,
        group_id: str | None = None,
        deployment_id: str | None = None,
        configured: bool = False,
    ) -> Token:
        return cls.insert_row(
            id=f"tok_{uuid.uuid4()}",
            kind=kind,
            token_hash=hash_token(raw),
            prefix=raw[:DISPLAYED],
            deployment_group=group_id,
            deployment_id=deployment_id,
            created_at=clock.now(),
            configured=configured,
        )

    @classmethod
    def register_configured_admin(cls, raw: str) -> bool:
        """Accept `raw` (the value of ALIEN_ADMIN_TOKEN) as an admin token and revoke the one
        an earlier, different value registered. Idempotent. A value that was revoked is not
        accepted again and revokes nothing (a worker still configured with the old value must
        not undo a rotation): returns False. Run it inside a transaction (bootstrap's)."""
        digest = hash_token(raw)
        existing = cls.get_or_none(cls.token_hash == digest)
        if existing is not None and existing.revoked_at is not None:
            return False
        if existing is None:
            cls.register(raw, ADMIN, configured=True)
        elif not existing.configured:
            cls.update(configured=True).where(cls.id == existing.id).execute()
        stale = cls.configured & cls.revoked_at.is_null() & (cls.token_hash != digest)
        cls.update(revoked_at=clock.now()).where(stale).execute()
        return True

    @classmethod
    def authenticate(cls, raw: str) -> Caller | None:
        token: Token | None = cls.active().where(cls.token_hash == hash_token(raw)).first()
        if token is None or (not _fixture_tokens_accepted and token.from_fixture):
            return None
        token.mark_used()
        return token.caller()

    @property
    def from_fixture(self) -> bool:
        """Loaded from a fixture file (test mode, docs/behaviour.md §13.1): such a token is
        public, and is accepted only while test mode says so (`accept_fixture_tokens`)."""
        return bool(self.id == fixture_token_id(self.token_hash))

    @classmethod
    def fixture_count(cls) -> int:
        """Active tokens that came from a fixture file (their ids say so: a UUID of version 5
        at `tok_`'s place, checked exactly)."""
        candidates = cls.active().where(peewee.fn.SUBSTR(cls.id, 19, 1) == "5")
        return sum(1 for token in candidates if token.from_fixture)

    def mark_used(self) -> None:
        """Record the use, unless it was recorded less than a minute ago (then: no write)."""
        now = clock.now()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_EVERY:
            return
        stale = Token.last_used_at.is_null() | (Token.last_used_at <= now - LAST_USED_EVERY)
        Token.update(last_used_at=now).where((Token.id == self.id) & stale).execute()

    @classmethod
    def listing(
        cls, kind: str | None = None, group_id: str | None = None, revoked: bool = False
    ) -> list[Token]:
        """Active tokens (and revoked ones too with `revoked`), oldest first."""
        query = (cls.select() if revoked else cls.active()).order_by(cls.created_at, cls.id)
        if kind is not None:
            query = query.where(cls.kind == kind)
        if group_id is not None:
            query = query.where(cls.deployment_group == group_id)
        return list(query)

    @classmethod
    def select_one(cls, selector: str) -> Token:
        """The one active token `selector` names: its record id (`tok_…`), the whole raw
        token, or the start of its display prefix. Raises TokenSelectionError for none or
        several."""
        by_hash = not selector.startswith("tok_") and len(selector) > DISPLAYED
        if selector.startswith("tok_"):
            query = cls.active().where(cls.id == selector)
        elif by_hash:
            query = cls.active().where(cls.token_hash == hash_token(selector))
        else:
            start = peewee.fn.SUBSTR(cls.prefix, 1, len(selector))
            query = cls.active().where(start == selector)
        found = list(query.order_by(cls.created_at, cls.id).limit(11))
        if not found:
            hint = f" (a prefix has at most {DISPLAYED} characters)" if by_hash else ""
            raise TokenSelectionError(f"no active token matches {selector!r}{hint}")
        if len(found) > 1:
            ids = ", ".join(t.id for t in found[:10]) + (", …" if len(found) > 10 else "")
            raise TokenSelectionError(
                f"{selector!r} matches more than one token ({ids}); name one by its id"
            )
        return found[0]

    @classmethod
    def revoke(cls, selector: str) -> Token:
        """Revoke the one active token `selector` names (see select_one); return it."""
        with db.atomic():
            token = cls.select_one(selector)
            cls.update(revoked_at=clock.now()).where(cls.id == token.id).execute()
        revocation.revoked()
        return token

    @classmethod
    def rotate_admin(cls) -> tuple[str, list[Token]]:
        """Mint a new admin token and revoke every other admin token, in one transaction."""
        with db.atomic():
            others = list(cls.active().where(cls.kind == ADMIN))
            raw = cls.mint(ADMIN)
            revoked = cls.id.in_([t.id for t in others])
            cls.update(revoked_at=clock.now()).where(revoked).execute()
        revocation.revoked()
        return raw, others

    @classmethod
    def revoke_for_deployment(cls, deployment_id: str) -> int:
        removed: int = cls.delete().where(cls.deployment_id == deployment_id).execute()
        return removed

    def caller(self) -> Caller:
        return Caller(
            kind=self.kind,
            token_id=self.id,
            group_id=self.deployment_group_id,
            deployment_id=self.deployment_id,
        )


@dataclass(frozen=True)
class Caller:
    """Who is asking, and the scope rules of docs/behaviour.md §2 in one place."""

    kind: str
    token_id: str
    group_id: str | None = None
    deployment_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.kind == ADMIN

    @property
    def confined_to(self) -> tuple[str | None, str | None]:
        """(group, deployment) this caller's reach is limited to; None where it is not:
        admins (None, None), DG tokens (their group, None), deployment tokens (both)."""
        if self.is_admin:
            return None, None
        return self.group_id, self.deployment_id if self.kind == DEPLOYMENT else None

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden(ADMIN_REQUIRED)

    def require_not_deployment(self, action: str) -> None:
        """What only admins and DG tokens may do (list, create, resolve credentials)."""
        if self.kind == DEPLOYMENT:
            raise Forbidden(f"Deployment tokens cannot {action}")

    def require_group(self, group_id: str) -> None:
        """Admins reach every group; tokens only their own."""
        if not self.is_admin and group_id != self.group_id:
            raise Forbidden(GROUP_TOKEN_REQUIRED)

    def require_admin_or_group_token(self) -> None:
        """What deployment tokens may not do, in the reference's words (its routes/auth.rs
        require_admin_or_any_group: resolve credentials)."""
        if self.kind == DEPLOYMENT:
            raise Forbidden(ANY_GROUP_TOKEN_REQUIRED)

    def require_deployment_id(self, deployment_id: str) -> None:
        """A deployment token reaches its own deployment only (the group check aside)."""
        if self.kind == DEPLOYMENT and deployment_id != self.deployment_id:
            raise Forbidden(ACCESS_DENIED)

    def require_deployment(
        self, deployment_id: str, group_id: str, denied: str = ACCESS_DENIED
    ) -> None:
        """Admins reach every deployment, DG tokens their group's, deployment tokens their own.

        `denied` is the reason the reference gives for the operation at hand: "Access denied"
        for reads and sync calls, the group-token reason for retry and redeploy.
        """
        if self.is_admin:
            return
        if group_id != self.group_id or (
            self.kind == DEPLOYMENT and deployment_id != self.deployment_id
        ):
            raise Forbidden(denied)

    def listed_group(self, requested: str | None) -> str | None:
        """The group whose deployments a list shows: any asked for (None: all) for admins, a
        DG token's own (asking for another is refused); deployment tokens list nothing."""
        self.require_not_deployment("list deployments")
        if self.is_admin:
            return requested
        self.require_group(requested or self.group_id or "")
        return self.group_id

    @property
    def listed_groups(self) -> str | None:
        """The deployment groups a list shows: all (None) for admins, a token's own group."""
        return None if self.is_admin else self.group_id


#: Dev mode's caller: the reference's permissive validator names it "dev" (whoami's `id`).
DEV_CALLER = Caller(kind=ADMIN, token_id="dev")
