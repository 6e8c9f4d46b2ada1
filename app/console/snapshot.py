"""The console's two reads as JSON: what a token may see now (`state`) and one deployment's
status history (`history`). Shapes of the console's own, not the spec's; camelCase as the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.settings import Settings
from models import overview
from models.history import KEEP, StatusChange
from models.tokens import Caller


def iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="microseconds")


def state(caller: Caller, filters: overview.Filters, settings: Settings, now: datetime) -> Any:
    stale_before = now - timedelta(seconds=settings.lock_ttl_seconds)
    return {
        "caller": {"kind": caller.kind, "deploymentGroupId": caller.group_id},
        "testMode": settings.test_mode,
        "leaseTtlSeconds": settings.lock_ttl_seconds,
        "filters": {"group": filters.group, "status": filters.status, "platform": filters.platform},
        "groups": [
            {
                "id": g.id,
                "name": g.name,
                "deploymentCount": g.deployment_count,
                "maxDeployments": g.max_deployments,
            }
            for g in overview.groups(caller)
        ],
        "platforms": overview.platforms(caller),
        "counts": overview.counts_by_status(caller, filters),
        "deployments": [
            _deployment(d, stale_before) for d in overview.deployments(caller, filters)
        ],
        "shownDeployments": overview.SHOWN_DEPLOYMENTS,
        "releases": [
            {"id": r.id, "createdAt": iso(r.created_at), "platforms": platforms}
            for r, platforms in overview.releases()
        ],
    }


def _deployment(d: dict[str, Any], stale_before: datetime) -> dict[str, Any]:
    lease = None
    if d["locked_by"] is not None:
        at = d["locked_at"]
        lease = {
            "session": d["locked_by"],
            "lockedAt": iso(at),
            "stale": at is None or at < stale_before,
        }
    return {
        "id": d["id"],
        "name": d["name"],
        "deploymentGroupId": d["deployment_group"],
        "platform": d["platform"],
        "status": d["status"],
        "currentReleaseId": d["current_release_id"],
        "desiredReleaseId": d["desired_release_id"],
        "lease": lease,
        "createdAt": iso(d["created_at"]),
        "updatedAt": iso(d["updated_at"]),
        "error": d["error"],
    }


def history(caller: Caller, deployment_id: str) -> Any:
    return {
        "deploymentId": deployment_id,
        "keep": KEEP,
        "changes": [_change(c) for c in overview.history(caller, deployment_id)],
    }


def _change(c: StatusChange) -> dict[str, Any]:
    cause = (
        {"session": c.session} if c.session is not None else {"call": c.call, "caller": c.caller}
    )
    return {"at": iso(c.at), "from": c.from_status, "to": c.to_status, "by": cause}
