"""Bearer tokens and the callers they authenticate.

Only sha256(token) and a 12-character display prefix are stored; the raw token exists only in
the response (or the first-start message) that mints it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

import peewee

from models import clock
from models.db import BaseModel, TimestampField
from models.errors import (
    ACCESS_DENIED,
    ADMIN_REQUIRED,
    ANY_GROUP_TOKEN_REQUIRED,
    GROUP_TOKEN_REQUIRED,
    Forbidden,
)
from models.groups import DeploymentGroup

ADMIN, GROUP, DEPLOYMENT = "admin", "deployment-group", "deployment"
PREFIXES = {ADMIN: "ax_admin_", GROUP: "ax_dg_", DEPLOYMENT: "ax_deploy_"}


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


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

    @classmethod
    def mint(cls, kind: str, group_id: str | None = None, deployment_id: str | None = None) -> str:
        """Create a token record and return the raw token (the only time it is known)."""
        raw = PREFIXES[kind] + secrets.token_hex(20)
        cls.register(raw, kind, group_id, deployment_id)
        return raw

    @classmethod
    def register(
        cls, raw: str, kind: str, group_id: str | None = None, deployment_id: str | None = None
    ) -> Token:
        return cls.create(
            id=f"tok_{uuid.uuid4()}",
            kind=kind,
            token_hash=hash_token(raw),
            prefix=raw[:12],
            deployment_group=group_id,
            deployment_id=deployment_id,
            created_at=clock.now(),
        )

    @classmethod
    def authenticate(cls, raw: str) -> Caller | None:
        token = cls.get_or_none(cls.token_hash == hash_token(raw))
        return None if token is None else token.caller()

    @classmethod
    def revoke_for_deployment(cls, deployment_id: str) -> int:
        return cls.delete().where(cls.deployment_id == deployment_id).execute()

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
