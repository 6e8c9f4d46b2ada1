"""The wire shapes: every resource as the API (and the CLI's `--json`) shows it.

Handlers, the CLI and nothing else turn models into JSON here, so a shape is written once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.deployments import Deployment
from models.groups import DeploymentGroup
from models.releases import Release, with_reference_defaults


def iso(at: datetime) -> str:
    """RFC 3339 UTC with microseconds and `+00:00`, as docs/behaviour.md §1 prescribes."""
    return at.isoformat(timespec="microseconds")


def present(**fields: Any) -> dict[str, Any]:
    """The optional fields that are set: absent ones are omitted, never sent as null."""
    return {key: value for key, value in fields.items() if value is not None}


def group(group: DeploymentGroup) -> dict[str, Any]:
    """A deployment group (also `alien-server groups list --json`)."""
    return {
        "id": group.id,
        "name": group.name,
        "maxDeployments": group.max_deployments,
        "deploymentCount": group.deployment_count,
        "createdAt": iso(group.created_at),
    }


def deployment(d: Deployment, group: DeploymentGroup | None = None) -> dict[str, Any]:
    """A deployment; with its group's id and name when `include=deploymentGroup` asked."""
    return {
        "id": d.id,
        "name": d.name,
        "platform": d.platform,
        "status": d.status,
        "deploymentGroupId": d.deployment_group_id,
        "stackSettings": d.stack_settings or {},
        "retryRequested": d.retry_requested,
        "createdAt": iso(d.created_at),
    } | present(
        stackState=d.stack_state,
        environmentInfo=d.environment_info,
        currentReleaseId=d.current_release_id,
        desiredReleaseId=d.desired_release_id,
        updatedAt=d.updated_at and iso(d.updated_at),
        error=d.error,
        deploymentGroup=group and {"id": group.id, "name": group.name},
    )


def release(release: Release) -> dict[str, Any]:
    return {
        "id": release.id,
        "stack": release.stack,
        "createdAt": iso(release.created_at),
    } | present(gitMetadata=release.git_metadata or None)


# -- the sync protocol's forms (docs/behaviour.md §7) ------------------------------------------

#: The raw record of an acquire response: the stored row, snake_case, explicit nulls (§7.1).
RECORD_FIELDS = (
    "id", "name", "deployment_group_id", "platform", "status", "stack_settings", "stack_state",
    "environment_info", "runtime_metadata", "current_release_id", "desired_release_id",
    "user_environment_variables", "retry_requested", "locked_by", "locked_at", "created_at",
    "updated_at", "error",
)  # fmt: skip


def record(d: Deployment) -> dict[str, Any]:
    return {name: _raw(getattr(d, name)) for name in RECORD_FIELDS}


def _raw(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


def deployment_state(
    d: Deployment, reported_current: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A deployment as the spec's DeploymentState; optional fields omitted, never null."""
    return {"status": d.status, "platform": d.platform} | present(
        currentRelease=_stored_release_info(d.current_release_id, d.platform, reported_current),
        targetRelease=_stored_release_info(d.desired_release_id, d.platform),
        stackState=d.stack_state,
        environmentInfo=d.environment_info,
        runtimeMetadata=d.runtime_metadata,
        retryRequested=d.retry_requested,
    )


def _stored_release_info(
    release_id: str | None, platform: str, reported: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """ReleaseInfo for a release the server knows; for one it does not (a worker may report a
    release made elsewhere), the ReleaseInfo the worker reported for it, if any."""
    if release_id is None:
        return None
    stack = Release.stack_of(release_id, platform)
    if stack is not None:
        return {"releaseId": release_id, "stack": with_reference_defaults(stack)}
    if reported is not None and reported.get("releaseId") == release_id:
        return present(**reported)
    return None


def release_info(release: Release, platform: str) -> dict[str, Any]:
    """A release as the sync protocol hands it out: its stack for the platform, with the
    defaults the reference's Stack model adds (docs/behaviour.md §10), so that operator_sync's
    target and reconcile's current/target releases are the same document."""
    stack = release.stack_for(platform)
    assert stack is not None  # callers only pass releases with a stack for the platform
    return {"releaseId": release.id, "stack": with_reference_defaults(stack)}
