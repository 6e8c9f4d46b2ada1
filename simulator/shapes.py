"""What a simulated deployment reports, in the spec's shapes (StackState, EnvironmentInfo,
AlienError). Values are plausible and deterministic: they derive from the deployment's id, so
every engine reports the same account, project or subscription for one deployment.
tests/simulator/test_shapes.py validates all of it against the schemas in openapi.json.
"""

from __future__ import annotations

import hashlib
import platform as host
import socket
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.steps import Snapshot

#: Deployment status -> the status of every resource in its stackState (ResourceStatus).
RESOURCE_STATUS = {
    "pending": "pending",
    "initial-setup": "pending",
    "provisioning": "provisioning",
    "running": "running",
    "update-pending": "running",
    "updating": "updating",
    "delete-pending": "running",
    "deleting": "deleting",
    "deleted": "deleted",
}
#: The step whose work failed -> the status of the resource that failed, and of the others.
FAILED_RESOURCE = {
    "initial-setup": ("provision-failed", "pending"),
    "provisioning": ("provision-failed", "provisioning"),
    "updating": ("update-failed", "updating"),
    "deleting": ("delete-failed", "deleting"),
}
REGION = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}
FAILURE_CODE = "SIMULATED_FAILURE"


def _digest(deployment_id: str) -> str:
    return hashlib.sha256(deployment_id.encode()).hexdigest()


def _digits(hex_text: str, count: int) -> str:
    return str(int(hex_text, 16) % 10**count).zfill(count)


def environment_info(platform: str, deployment_id: str) -> dict[str, Any] | None:
    """The spec's EnvironmentInfo for the platform; None for kubernetes, which it has no
    variant for."""
    d = _digest(deployment_id)
    if platform == "aws":
        return {"platform": "aws", "accountId": _digits(d[:16], 12), "region": REGION["aws"]}
    if platform == "gcp":
        return {
            "platform": "gcp",
            "projectId": f"alien-sim-{d[:8]}",
            "projectNumber": _digits(d[8:24], 12),
            "region": REGION["gcp"],
        }
    if platform == "azure":
        return {
            "platform": "azure",
            "tenantId": str(uuid.UUID(d[:32])),
            "subscriptionId": str(uuid.UUID(d[32:])),
            "location": REGION["azure"],
        }
    if platform == "local":
        os_name = {"darwin": "macos"}.get(host.system().lower(), host.system().lower())
        return {
            "platform": "local",
            "hostname": socket.gethostname(),
            "os": os_name or "linux",
            "arch": host.machine() or "x86_64",
        }
    if platform == "test":
        return {"platform": "test", "testId": f"test-{d[:12]}"}
    return None


def resource_prefix(snap: Snapshot) -> str:
    """Short, unique per deployment, safe in cloud resource names."""
    return "alien-" + _digest(snap.id)[:8]


def outputs(
    platform: str, deployment_id: str, prefix: str, config: Mapping[str, Any]
) -> dict[str, Any]:
    """The spec's BaseResourceOutputs for a running resource: its type, a name, the cloud's
    identifier for it, and a URL for what serves traffic."""
    kind, rid = str(config["type"]), str(config["id"])
    name = f"{prefix}-{rid}"
    out: dict[str, Any] = {"type": kind, "name": name}
    info = environment_info(platform, deployment_id) or {}
    if platform == "aws":
        out["arn"] = f"arn:aws:{kind}:{info['region']}:{info['accountId']}:{name}"
    elif platform == "gcp":
        out["resourceName"] = f"projects/{info['projectId']}/locations/{info['region']}/{name}"
    elif platform == "azure":
        out["resourceId"] = (
            f"/subscriptions/{info['subscriptionId']}/resourceGroups/{prefix}/{kind}/{rid}"
        )
    elif platform == "kubernetes":
        out["namespace"] = prefix
    if kind in ("function", "container"):
        out["url"] = f"https://{name}.{platform}.alien.invalid/"
    return out


def error(snap: Snapshot, step: str, resource_id: str, reason: str) -> dict[str, Any]:
    """The spec's AlienError for a simulated failure of one resource."""
    return {
        "code": FAILURE_CODE,
        "message": f"Simulated failure during {step} of resource '{resource_id}' ({reason})",
        "retryable": True,
        "internal": False,
        "context": {"deployment_id": snap.id, "resource_id": resource_id, "step": step},
    }


def stack_state(
    snap: Snapshot,
    stack: Mapping[str, Any],
    status: str,
    *,
    attempt: int = 0,
    previous: Mapping[str, Any] | None = None,
    failure: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The spec's StackState: one StackResourceState per resource of `stack`, in the status
    that matches the deployment's; `failure = (step, reason)` fails the first resource."""
    prefix = resource_prefix(snap)
    previous_resources = (previous or {}).get("resources") or {}
    resources: dict[str, Any] = {}
    for index, (rid, entry) in enumerate((stack.get("resources") or {}).items()):
        config = entry["config"]
        item: dict[str, Any] = {
            "type": config["type"],
            "config": config,
            "dependencies": entry.get("dependencies") or [],
            "lifecycle": entry.get("lifecycle") or "live",
        }
        if failure is not None:
            failed, others = FAILED_RESOURCE[failure[0]]
            item["status"] = failed if index == 0 else others
            if index == 0:
                item["error"] = error(snap, failure[0], rid, failure[1])
        else:
            item["status"] = RESOURCE_STATUS.get(status, "running")
        if item["status"] in ("running", "updating", "deleting", "update-failed", "delete-failed"):
            item["outputs"] = outputs(snap.platform, snap.id, prefix, config)
        old = previous_resources.get(rid)
        if status == "updating" and old is not None and old.get("config") != config:
            item["previousConfig"] = old["config"]
        if attempt:
            item["retryAttempt"] = attempt
        resources[rid] = item
    return {"platform": snap.platform, "resourcePrefix": prefix, "resources": resources}
