"""The sync protocol (docs/behaviour.md §7): acquire, reconcile, release, operator_sync,
initialize."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from handlers.render import present
from models import lifecycle, sync
from models.contract import Contract
from models.deployments import Deployment
from models.releases import Release, with_reference_defaults
from models.tokens import Caller


def acquire(caller: Caller, lock_ttl_seconds: int, body: dict[str, Any]) -> dict[str, Any]:
    limit = body.get("limit")
    deployments = sync.acquire(
        caller,
        body["session"],
        ttl_seconds=lock_ttl_seconds,
        limit=sync.DEFAULT_LIMIT if limit is None else limit,
        deployment_ids=body.get("deploymentIds"),
        platforms=body.get("platforms"),
        statuses=body.get("statuses"),
    )
    return {"deployments": [{"deployment": _record(d)} for d in deployments]}


def reconcile(
    caller: Caller, lock_ttl_seconds: int, contract: Contract, body: dict[str, Any]
) -> dict[str, Any]:
    state = contract.read("DeploymentState", body["state"])  # kept and echoed: no "absent" nulls
    deployment = sync.reconcile(
        caller,
        body["deploymentId"],
        body["session"],
        state,
        heartbeat=bool(body.get("updateHeartbeat")),
        ttl_seconds=lock_ttl_seconds,
    )
    return {"success": True, "current": _state(deployment, state.get("currentRelease"))}


def release(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    sync.release(caller, body["deploymentId"], body["session"])
    return {"success": True}


def operator_sync(caller: Caller, body: dict[str, Any]) -> dict[str, Any]:
    target = sync.operator_target(caller, body["deploymentId"])
    if target is None:
        return {}
    deployment, desired = target
    return {
        "target": {
            "releaseInfo": _release_info(desired, deployment.platform),
            "config": deployment.stack_settings or {},
        }
    }


def initialize(caller: Caller, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    deployment_id, token, created = lifecycle.initialize_operator(
        caller, body.get("name"), body.get("platform")
    )
    return {"deploymentId": deployment_id} | present(token=token), 201 if created else 200


# -- wire forms --------------------------------------------------------------------------------

#: The raw record of an acquire response: the stored row, snake_case, explicit nulls (§7.1).
RECORD_FIELDS = (
    "id", "name", "deployment_group_id", "platform", "status", "stack_settings", "stack_state",
    "environment_info", "runtime_metadata", "current_release_id", "desired_release_id",
    "user_environment_variables", "retry_requested", "locked_by", "locked_at", "created_at",
    "updated_at", "error",
)  # fmt: skip


def _record(d: Deployment) -> dict[str, Any]:
    return {name: _raw(getattr(d, name)) for name in RECORD_FIELDS}


def _raw(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


def _state(d: Deployment, reported_current: dict[str, Any] | None = None) -> dict[str, Any]:
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


def _release_info(release: Release, platform: str) -> dict[str, Any]:
    """A release as the sync protocol hands it out: its stack for the platform, with the
    defaults the reference's Stack model adds (docs/behaviour.md §10), so that operator_sync's
    target and reconcile's current/target releases are the same document."""
    stack = release.stack_for(platform)
    assert stack is not None  # callers only pass releases with a stack for the platform
    return {"releaseId": release.id, "stack": with_reference_defaults(stack)}
