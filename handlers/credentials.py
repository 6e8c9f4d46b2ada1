"""resolve_credentials (docs/behaviour.md §5.4): the cloud client configuration for a deployment.

Only an admin or a token of the deployment's own group gets it; deployment tokens never do,
and learn so before the deployment is looked up (reference:
crates/alien-manager/src/routes/credentials.rs:62-76, `require_admin_or_any_group` first).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from models.deployments import Deployment
from models.tokens import Caller


def resolve_credentials(
    caller: Caller, client_config: Callable[[str], dict[str, Any] | None], body: dict[str, Any]
) -> dict[str, Any]:
    caller.require_admin_or_group_token()  # before the lookup, as the reference (docs §10)
    deployment = Deployment.existing(body["deploymentId"])
    caller.require_group(deployment.deployment_group_id)
    return {"clientConfig": client_config(deployment.platform)}
