from __future__ import annotations

from typing import Any

from handlers.render import iso
from models.groups import DeploymentGroup
from models.tokens import GROUP, Caller, Token


def render(group: DeploymentGroup) -> dict[str, Any]:
    """A group as the API shows it (also `alien-server groups list --json`)."""
    return {
        "id": group.id,
        "name": group.name,
        "maxDeployments": group.max_deployments,
        "deploymentCount": group.deployment_count,
        "createdAt": iso(group.created_at),
    }


def list_deployment_groups(
    caller: Caller, limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    groups, next_cursor = DeploymentGroup.page(caller.listed_groups, limit, cursor)
    return {"items": [render(g) for g in groups], "nextCursor": next_cursor}


def create_deployment_group(caller: Caller, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    caller.require_admin()
    group = DeploymentGroup.create_new(body["name"], body.get("maxDeployments"))
    return render(group), 200


def get_deployment_group(caller: Caller, id_: str) -> dict[str, Any]:
    group = DeploymentGroup.existing(id_)
    caller.require_group(group.id)
    return render(group)


def create_deployment_group_token(caller: Caller, id_: str) -> dict[str, Any]:
    caller.require_admin()
    group = DeploymentGroup.existing(id_)
    return {"token": Token.mint(GROUP, group.id), "deploymentGroupId": group.id}
