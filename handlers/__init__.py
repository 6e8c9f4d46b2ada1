"""operationId -> handler: the explicit table Connexion resolves against.

Every operationId of openapi.json must be here; `resolve` fails loudly at start-up otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handlers import credentials, deployment_groups, deployments, health, identity, releases, sync

OPERATIONS: dict[str, Callable[..., Any]] = {
    "health": health.health,
    "whoami": identity.whoami,
    "list_deployment_groups": deployment_groups.list_deployment_groups,
    "create_deployment_group": deployment_groups.create_deployment_group,
    "get_deployment_group": deployment_groups.get_deployment_group,
    "create_deployment_group_token": deployment_groups.create_deployment_group_token,
    "list_deployments": deployments.list_deployments,
    "create_deployment": deployments.create_deployment,
    "get_deployment": deployments.get_deployment,
    "get_deployment_info": deployments.get_deployment_info,
    "delete_deployment": deployments.delete_deployment,
    "retry_deployment": deployments.retry_deployment,
    "redeploy": deployments.redeploy,
    "create_release": releases.create_release,
    "get_release": releases.get_release,
    "get_latest_release": releases.get_latest_release,
    "acquire": sync.acquire,
    "reconcile": sync.reconcile,
    "release": sync.release,
    "operator_sync": sync.operator_sync,
    "initialize": sync.initialize,
    "resolve_credentials": credentials.resolve_credentials,
}


class UnknownOperation(LookupError):
    pass


def resolve(operation_id: str) -> Callable[..., Any]:
    try:
        return OPERATIONS[operation_id]
    except KeyError:
        raise UnknownOperation(
            f"operationId {operation_id!r} has no handler: add it to handlers.OPERATIONS"
        ) from None
