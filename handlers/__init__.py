"""operationId -> handler: the explicit table Connexion resolves against.

Every operationId of openapi.json must be here; `resolve` fails loudly at start-up otherwise.

Each entry also names what the handler is given besides the spec's own parameters (which
Connexion passes by name). `bind` is the one step between Connexion and a handler: it passes
exactly those, and runs the handler with the request's database connection
(`models.db.request_connection`). Nothing else wraps a handler, and nothing edits what it
returns.

- `caller`: the authenticated `models.tokens.Caller` (docs/behaviour.md §2);
- `lock_ttl_seconds`, `base_url`: those settings;
- `client_config`: `platform -> clientConfig`, from the server's cloud credentials (app/cloud.py);
- `contract`: the spec's shapes Connexion does not check for us (`models.contract.Contract`).

Handlers import models (and handlers.render), never app: the app passes what they need.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from handlers import credentials, deployment_groups, deployments, health, identity, releases, sync
from models.db import request_connection

CALLER, CONTRACT = "caller", "contract"
LOCK_TTL, BASE_URL, CLIENT_CONFIG = "lock_ttl_seconds", "base_url", "client_config"
INJECTABLE = frozenset({CALLER, CONTRACT, LOCK_TTL, BASE_URL, CLIENT_CONFIG})


@dataclass(frozen=True)
class Operation:
    handler: Callable[..., Any]
    takes: tuple[str, ...] = ()


OPERATIONS: dict[str, Operation] = {
    "health": Operation(health.health),
    "whoami": Operation(identity.whoami, (CALLER,)),
    "list_deployment_groups": Operation(deployment_groups.list_deployment_groups, (CALLER,)),
    "create_deployment_group": Operation(deployment_groups.create_deployment_group, (CALLER,)),
    "get_deployment_group": Operation(deployment_groups.get_deployment_group, (CALLER,)),
    "create_deployment_group_token": Operation(
        deployment_groups.create_deployment_group_token, (CALLER,)
    ),
    "list_deployments": Operation(deployments.list_deployments, (CALLER,)),
    "create_deployment": Operation(deployments.create_deployment, (CALLER, CONTRACT)),
    "get_deployment": Operation(deployments.get_deployment, (CALLER,)),
    "get_deployment_info": Operation(deployments.get_deployment_info, (CALLER, BASE_URL)),
    "delete_deployment": Operation(deployments.delete_deployment, (CALLER,)),
    "retry_deployment": Operation(deployments.retry_deployment, (CALLER,)),
    "redeploy": Operation(deployments.redeploy, (CALLER,)),
    "create_release": Operation(releases.create_release, (CALLER, CONTRACT)),
    "get_release": Operation(releases.get_release, (CALLER,)),
    "get_latest_release": Operation(releases.get_latest_release, (CALLER,)),
    "acquire": Operation(sync.acquire, (CALLER, LOCK_TTL)),
    "reconcile": Operation(sync.reconcile, (CALLER, LOCK_TTL, CONTRACT)),
    "release": Operation(sync.release, (CALLER,)),
    "operator_sync": Operation(sync.operator_sync, (CALLER,)),
    "initialize": Operation(sync.initialize, (CALLER,)),
    "resolve_credentials": Operation(credentials.resolve_credentials, (CALLER, CLIENT_CONFIG)),
}


class UnknownOperation(LookupError):
    pass


def resolve(operation_id: str) -> Operation:
    try:
        return OPERATIONS[operation_id]
    except KeyError:
        raise UnknownOperation(
            f"operationId {operation_id!r} has no handler: add it to handlers.OPERATIONS"
        ) from None


def bind(operation_id: str, provided: Mapping[str, Callable[[], Any]]) -> Callable[..., Any]:
    """The handler for `operation_id`, given what its entry `takes` (each value of `provided`
    is called per request: the caller differs from one request to the next, settings do not)."""
    operation = resolve(operation_id)
    wanted = {name: provided[name] for name in operation.takes}

    @functools.wraps(operation.handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.update((name, get()) for name, get in wanted.items())
        with request_connection():
            return operation.handler(*args, **kwargs)

    return call
