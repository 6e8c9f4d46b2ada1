"""Deployments: one remote environment running (or about to run) a release."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import peewee

from models import clock
from models.base import BaseModel
from models.errors import DeploymentNotFound
from models.fields import ExactText, JSONField, TimestampField
from models.groups import DeploymentGroup
from models.paging import keyset_page

STATUSES = (
    "pending", "initial-setup", "initial-setup-failed", "provisioning", "provisioning-failed",
    "running", "refresh-failed", "update-pending", "updating", "update-failed",
    "delete-pending", "deleting", "delete-failed", "deleted",
)  # fmt: skip
FAILED = frozenset(s for s in STATUSES if s.endswith("-failed"))
DELETING = frozenset({"delete-pending", "deleting", "delete-failed", "deleted"})
#: Where a reconcile may move a deployment an admin asked to delete: only forward along the
#: deletion path (docs/behaviour.md §7.2). Any other reported status leaves it where it is.
DELETION_PATH = {
    "delete-pending": frozenset({"delete-pending", "deleting", "delete-failed", "deleted"}),
    "deleting": frozenset({"deleting", "delete-failed", "deleted"}),
    "delete-failed": frozenset({"delete-failed", "deleting", "deleted"}),
    "deleted": frozenset({"deleted"}),
}
#: Statuses a worker has something to do for (docs/behaviour.md §7.1); `*-failed` ones only
#: with a retry requested.
ACQUIRABLE = (
    "pending", "initial-setup", "provisioning", "update-pending", "updating",
    "delete-pending", "deleting",
)  # fmt: skip

#: StackSettings values the reference leaves out when it stores and serialises the settings
#: (crates/alien-core/src/stack_settings.rs: `skip_serializing_if = "is_default_*"`). The spec's
#: StackSettings schema declares no defaults, so they are written here; the properties come
#: from the spec.
STACK_SETTINGS_DEFAULTS = {
    "deploymentModel": "push",
    "updates": "auto",
    "telemetry": "auto",
    "heartbeats": "on",
}


def normal_environment_variables(sent: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Environment variables (already valid against the spec overlay's EnvironmentVariable) as
    the reference stores them: its fields only, `targetResources` left out when null."""
    if sent is None:
        return None
    return [
        {"name": v["name"], "value": v["value"], "type": v["type"]}
        | ({} if v.get("targetResources") is None else {"targetResources": v["targetResources"]})
        for v in sent
    ]


def normal_stack_settings(sent: dict[str, Any] | None, declared: Iterable[str]) -> dict[str, Any]:
    """Stack settings as the reference's typed model keeps them (docs/behaviour.md §10): only
    the `declared` properties (the spec's StackSettings), none that is null (`network`,
    `domains`: `skip_serializing_if = "Option::is_none"`) or equal to its default."""
    sent = sent or {}
    return {
        key: sent[key]
        for key in declared
        if sent.get(key) is not None and sent[key] != STACK_SETTINGS_DEFAULTS.get(key)
    }


class Deployment(BaseModel):
    not_found = DeploymentNotFound

    id = peewee.CharField(primary_key=True)
    name = ExactText()
    deployment_group = peewee.ForeignKeyField(DeploymentGroup, on_delete="CASCADE")
    deployment_group_id: str  # Peewee's accessor for the raw key, declared for mypy
    platform = peewee.CharField()
    status = peewee.CharField(default="pending")
    stack_settings = JSONField(default=dict)
    stack_state = JSONField(null=True)
    environment_info = JSONField(null=True)
    runtime_metadata = JSONField(null=True)
    # Text, not CharField's VARCHAR(255): a worker reports any id up to the text limit (640),
    # and any characters (ExactText: NUL too).
    current_release_id = ExactText(null=True)
    desired_release_id = peewee.TextField(null=True)
    user_environment_variables = JSONField(null=True)
    retry_requested = peewee.BooleanField(default=False)
    # Since migration 6: a retry or redeploy asked for since the last acquire. A reconcile from
    # a lease taken before the request cannot undo it; the next acquire hands it over.
    retry_unseen = peewee.BooleanField(default=False)
    redeploy_unseen = peewee.BooleanField(default=False)
    locked_by = ExactText(null=True)
    locked_at = TimestampField(null=True)
    created_at = TimestampField()
    updated_at = TimestampField(null=True)
    error = JSONField(null=True)

    class Meta:
        indexes = (
            (("created_at", "id"), False),
            (("deployment_group", "created_at", "id"), False),
            (("deployment_group", "name"), False),
            (("status", "created_at"), False),
            (("platform", "status"), False),
        )

    @classmethod
    def new(
        cls,
        group_id: str,
        name: str,
        platform: str,
        stack_settings: dict[str, Any] | None,
        desired_release_id: str | None,
        environment_variables: list[dict[str, Any]] | None = None,
    ) -> Deployment:
        return cls.insert_row(
            id=f"dep_{uuid.uuid4()}",
            name=name,
            deployment_group=group_id,
            platform=platform,
            status="pending",
            stack_settings=stack_settings or {},
            desired_release_id=desired_release_id,
            user_environment_variables=environment_variables,
            retry_requested=False,
            created_at=clock.now(),
        )

    @classmethod
    def counts_by_status_and_platform(cls) -> list[tuple[str, str, int]]:
        """How many deployments there are of each (status, platform): for the metrics."""
        count = peewee.fn.COUNT(cls.id)
        rows: Any = cls.select(cls.status, cls.platform, count).group_by(cls.status, cls.platform)
        return [(status, platform, n) for status, platform, n in rows.tuples()]

    @classmethod
    def page(
        cls, group_id: str | None, limit: int | None, cursor: str | None
    ) -> tuple[list[Deployment], str | None]:
        """Newest first; keyset-paged on (created_at, id) when `limit` or `cursor` is given."""
        query = cls.select()
        if group_id is not None:
            query = query.where(cls.deployment_group == group_id)
        return keyset_page(query, cls, limit, cursor)

    @staticmethod
    def groups_of(deployments: list[Deployment]) -> dict[str, DeploymentGroup]:
        """The groups of `deployments`, by id, in one query (a list's `include`)."""
        ids = {d.deployment_group_id for d in deployments}
        if not ids:
            return {}
        return {g.id: g for g in DeploymentGroup.select().where(DeploymentGroup.id.in_(ids))}

    # -- state changes on one row: single conditional UPDATEs, never read-modify-write ------

    def request_retry(self) -> None:
        self._set(retry_requested=True, retry_unseen=True)

    def _set(self, condition: Any = None, **values: Any) -> None:
        values["updated_at"] = clock.now()
        where = Deployment.id == self.id
        if condition is not None:
            where &= condition
        if Deployment.update(**values).where(where).execute():
            for key, value in values.items():
                setattr(self, key, value)


#: Work to do (docs/behaviour.md §7.1). The statuses are written into the SQL as constants
#: (peewee.ValueLiterals), not as parameters: the partial indexes below are declared with this
#: very condition, and SQLite and PostgreSQL use a partial index only for a query whose WHERE
#: holds the index's condition with the same constants.
HAS_WORK = peewee.ValueLiterals(
    Deployment.status.in_(ACQUIRABLE)
    | (Deployment.status.in_(sorted(FAILED)) & Deployment.retry_requested)
)
UNLEASED_WITH_WORK = Deployment.locked_by.is_null() & HAS_WORK
LEASED = Deployment.locked_by.is_null(False)
#: When a lease was taken, as stored; a lease without a time counts as the oldest (stale), so
#: one range on one index finds every stale lease. Its constant is inline for the same reason.
LEASE_TAKEN = peewee.ValueLiterals(peewee.fn.COALESCE(Deployment.locked_at, 0))

# Acquire's indexes (models/sync.py): the unleased deployments with work, in acquire's order,
# of a group (a group or deployment token acquires) and of all (an admin acquires); and the
# leases, by holder and by age, which are few next to the deployments. Existing databases get
# them from migration 3 (models/schema.py).
for _index in (
    Deployment.index(
        Deployment.deployment_group, Deployment.created_at, Deployment.id,
        name="deployment_acquirable_by_group", where=UNLEASED_WITH_WORK,
    ),
    Deployment.index(
        Deployment.created_at, Deployment.id,
        name="deployment_acquirable", where=UNLEASED_WITH_WORK,
    ),
    Deployment.index(Deployment.locked_by, name="deployment_lease_holder", where=LEASED),
    Deployment.index(LEASE_TAKEN, name="deployment_lease_age", where=LEASED),
):  # fmt: skip
    Deployment.add_index(_index)
