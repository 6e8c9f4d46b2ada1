from __future__ import annotations

from typing import Any

from handlers import render
from models.groups import DeploymentGroup
from models.tokens import GROUP, Caller, Token


def list_deployment_groups(
    caller: Caller, limit: int | None = None, cursor: str | None = None
) -> dict[str, Any]:
    groups, next_cursor = DeploymentGroup.page(caller.listed_groups, limit, cursor)
    return {"items": [render.group(g) for g in groups], "nextCursor": next_cursor}


def create_deployment_group(caller: Caller, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    caller.require_admin()
    group = DeploymentGroup.create_new(body["name"], body.get("maxDeployments"))
    return render.group(group), 200


def get_deployment_group(caller: Caller, id_: str) -> dict[str, Any]:
    group = DeploymentGroup.existing(id_)
    caller.require_group(group.id)
    return render.group(group)


def create_deployment_group_token(caller: Caller, id_: str) -> dict[str, Any]:
    caller.require_admin()
    group = DeploymentGroup.existing(id_)
    return {"token": Token.mint(GROUP, group.id), "deploymentGroupId": group.id}
