"""resolve_credentials (docs/behaviour.md §5.4): the cloud client configuration for a deployment.

Only an admin or a token of the deployment's own group gets it; deployment tokens never do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.deployments import Deployment
from models.tokens import Caller


def resolve_credentials(
    caller: Caller, client_config: Callable[[str], dict[str, Any] | None], body: dict[str, Any]
) -> dict[str, Any]:
    deployment = Deployment.existing(body["deploymentId"])
    caller.require_admin_or_group_token()
    caller.require_group(deployment.deployment_group_id)
    return {"clientConfig": client_config(deployment.platform)}
