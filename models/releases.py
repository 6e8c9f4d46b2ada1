"""Releases: immutable stacks keyed by platform."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import peewee

from models import clock
from models.base import BaseModel
from models.contract import Contract
from models.errors import BadRequest, ReleaseNotFound
from models.fields import JSONField, TimestampField


class Release(BaseModel):
    not_found = ReleaseNotFound

    id = peewee.CharField(primary_key=True)
    stack = JSONField()  # {platform: Stack}, every platform as sent, null keys dropped
    git_metadata = JSONField(null=True)
    created_at = TimestampField()

    class Meta:
        indexes = ((("created_at", "id"), False),)

    @classmethod
    def insert_new(cls, stack: dict[str, Any], git_metadata: dict[str, Any] | None) -> Release:
        """Insert a release and its platform index rows (call inside a transaction)."""
        release = cls.insert_row(
            id=f"rel_{uuid.uuid4()}",
            stack=stack,
            git_metadata=git_metadata,
            created_at=clock.now(),
        )
        ReleasePlatform.insert_many(
            [
                {"release": release.id, "platform": p, "created_at": release.created_at}
                for p in stack
            ]
        ).execute()
        return release

    @staticmethod
    def accepted(
        sent_stack: dict[str, Any] | None, sent_git: dict[str, Any] | None, contract: Contract
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The stack and git metadata a new release keeps of what was sent (§6).

        The stack: the platforms the contract knows that were sent non-null, each a valid Stack
        (400 otherwise, naming the platform). Git metadata: its non-null fields, if any.
        """
        sent = sent_stack or {}
        stack = {p: sent[p] for p in contract.stack_platforms if sent.get(p) is not None}
        if not stack:
            raise BadRequest("No platform stack provided")
        for platform, platform_stack in stack.items():
            problem = contract.stack_problem(platform_stack)
            if problem is not None:
                raise BadRequest(f"Invalid stack format: {problem}", {"platform": platform})
            contract.read("Stack", platform_stack)  # echoed by reconcile: no "absent" nulls
        git = {k: v for k in contract.git_fields if (v := (sent_git or {}).get(k)) is not None}
        return stack, git or None

    @classmethod
    def latest(cls) -> Release:
        release: Release | None = (
            cls.select().order_by(cls.created_at.desc(), cls.id.desc()).first()
        )
        if release is None:
            raise ReleaseNotFound("latest")
        return release

    @classmethod
    def newest_for_platform(cls, platform: str, newer_than: Release | None = None) -> str | None:
        """Id of the newest release with a stack for `platform` (optionally: newer than one)."""
        rp = ReleasePlatform
        query = rp.select(rp.release).where(rp.platform == platform)
        if newer_than is not None:
            at = newer_than.created_at
            query = query.where(
                (rp.created_at > at) | ((rp.created_at == at) & (rp.release > newer_than.id))
            )
        row = query.order_by(rp.created_at.desc(), rp.release.desc()).first()
        return None if row is None else row.release_id

    @classmethod
    def stack_of(cls, release_id: str, platform: str) -> dict[str, Any] | None:
        """The stack a release has for `platform`; None when there is no such release or stack."""
        release = cls.get_or_none(cls.id == release_id)
        return None if release is None else release.stack_for(platform)

    def stack_for(self, platform: str) -> dict[str, Any] | None:
        stack: dict[str, Any] | None = self.stack.get(platform)
        return stack


#: What the reference's typed `Stack` fills in when it re-serialises a stored stack, as
#: operator_sync does (docs/behaviour.md §10). The spec's Stack schema declares no defaults, so
#: they come from the reference's model: crates/alien-core/src/stack.rs (`#[serde(default)]` on
#: Stack.permissions and ResourceEntry.remote_access) and crates/alien-core/src/permissions.rs
#: (PermissionsConfig::new: no profiles, `ManagementPermissions::Auto`; `#[serde(default)]` on
#: its management).
STACK_DEFAULTS: dict[str, Any] = {"permissions": {"profiles": {}, "management": "auto"}}
PERMISSIONS_DEFAULTS: dict[str, Any] = {"management": "auto"}
RESOURCE_ENTRY_DEFAULTS: dict[str, Any] = {"remoteAccess": False}


def with_reference_defaults(stack: dict[str, Any]) -> dict[str, Any]:
    """A spec-valid Stack with the reference's defaults filled in (a new dict; `stack` is kept).

    Resource `config`s are left as they are: their defaults belong to each resource type's
    own model, which the spec types as a free-form BaseResource.
    """
    filled = copy.deepcopy(STACK_DEFAULTS) | copy.deepcopy(stack)
    filled["permissions"] = PERMISSIONS_DEFAULTS | filled["permissions"]
    filled["resources"] = {
        resource_id: RESOURCE_ENTRY_DEFAULTS | entry
        for resource_id, entry in filled["resources"].items()
    }
    return filled


class ReleasePlatform(BaseModel):
    """Which platforms a release has a stack for: the index behind `newest_for_platform`."""

    release = peewee.ForeignKeyField(Release, on_delete="CASCADE")
    platform = peewee.CharField()
    created_at = TimestampField()

    class Meta:
        primary_key = peewee.CompositeKey("release", "platform")
        indexes = ((("platform", "created_at", "release"), False),)
