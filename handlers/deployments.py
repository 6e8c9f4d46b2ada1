from __future__ import annotations

from typing import Any

from handlers import render
from handlers.render import present
from models import lifecycle
from models.contract import Contract
from models.deployments import Deployment, normal_environment_variables, normal_stack_settings
from models.errors import ACCESS_DENIED, GROUP_TOKEN_REQUIRED
from models.history import Cause
from models.releases import Release
from models.tokens import Caller

INCLUDE_GROUP = "deploymentGroup"


def _visible(caller: Caller, deployment_id: str, denied: str = ACCESS_DENIED) -> Deployment:
    """404 for a missing deployment before 403 for one out of scope (docs/behaviour.md §2)."""
    deployment = Deployment.existing(deployment_id)
    caller.require_deployment(deployment.id, deployment.deployment_group_id, denied)
    return deployment


def list_deployments(
    caller: Caller,
    deployment_group_id: str | None = None,
    include: list[str] | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    rows, next_cursor = Deployment.page(caller.listed_group(deployment_group_id), limit, cursor)
    groups = Deployment.groups_of(rows) if include and INCLUDE_GROUP in include else {}
    items = [render.deployment(d, groups.get(d.deployment_group_id)) for d in rows]
    return {"items": items, "nextCursor": next_cursor}  # null on the last page, never absent


def create_deployment(
    caller: Caller, contract: Contract, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    group_id = lifecycle.target_group(caller, body.get("deploymentGroupId"))
    deployment, token = lifecycle.create_deployment(
        group_id,
        body["name"],
        body["platform"],
        normal_stack_settings(body.get("stackSettings"), contract.stack_settings_fields),
        mint_token=not caller.is_admin,
        cause=Cause.by_call("create_deployment", caller.kind),
        environment_variables=normal_environment_variables(body.get("environmentVariables")),
    )
    return {"deployment": render.deployment(deployment)} | present(token=token), 201


def get_deployment(caller: Caller, id_: str) -> dict[str, Any]:
    return render.deployment(_visible(caller, id_))


def get_deployment_info(caller: Caller, base_url: str, id_: str) -> dict[str, Any]:
    deployment = _visible(caller, id_)
    stack = None
    if deployment.current_release_id is not None:
        stack = Release.stack_of(deployment.current_release_id, deployment.platform)
    return {
        "commands": {"url": base_url, "deploymentId": deployment.id},
        "resources": (stack or {}).get("resources", {}),
        "status": deployment.status,
        "platform": deployment.platform,
    }


def delete_deployment(caller: Caller, id_: str, force: bool = False) -> tuple[dict[str, Any], int]:
    caller.require_admin()
    deployment = Deployment.existing(id_)
    if force:
        lifecycle.remove_deployment(deployment.id)
    else:
        cause = Cause.by_call("delete_deployment", caller.kind)
        lifecycle.mark_delete_pending(deployment.id, cause)
    return {"message": "Deployment deletion enqueued"}, 202


def retry_deployment(caller: Caller, id_: str) -> dict[str, Any]:
    _visible(caller, id_, GROUP_TOKEN_REQUIRED).request_retry()
    return {"success": True}


def redeploy(caller: Caller, id_: str) -> dict[str, Any]:
    deployment = _visible(caller, id_, GROUP_TOKEN_REQUIRED)
    lifecycle.redeploy(deployment.id, Cause.by_call("redeploy", caller.kind))
    return {"success": True}
