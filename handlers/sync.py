"""The sync protocol (docs/behaviour.md §7): acquire, reconcile, release, operator_sync,
initialize."""

from __future__ import annotations

from typing import Any

from handlers import render
from handlers.render import present
from models import lifecycle, sync
from models.contract import Contract
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
    return {"deployments": [{"deployment": render.record(d)} for d in deployments]}


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
    return {
        "success": True,
        "current": render.deployment_state(deployment, state.get("currentRelease")),
    }


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
            "releaseInfo": render.release_info(desired, deployment.platform),
            "config": deployment.stack_settings or {},
        }
    }


def initialize(caller: Caller, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    deployment_id, token, created = lifecycle.initialize_operator(
        caller, body.get("name"), body.get("platform")
    )
    return {"deploymentId": deployment_id} | present(token=token), 201 if created else 200
