"""Domain errors. Each carries the spec's AlienError `code`; app/http/error_responses.py maps
codes to HTTP.

Messages and contexts are the reference server's own (docs/behaviour.md §10), so a client that
matches on them works against both servers.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "GENERIC_ERROR"

    def __init__(self, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.context = context


class BadRequest(DomainError):
    code = "BAD_REQUEST"


class Forbidden(DomainError):
    code = "FORBIDDEN"


#: The reference's Forbidden reasons (its routes/auth.rs helpers and route checks).
ACCESS_DENIED = "Access denied"
GROUP_TOKEN_REQUIRED = "Access denied: requires admin or matching deployment group token"
ANY_GROUP_TOKEN_REQUIRED = "Access denied: requires admin or deployment group token"
ADMIN_REQUIRED = "Admin access required"


class MaxDeploymentsReached(DomainError):
    code = "MAX_DEPLOYMENTS_REACHED"

    def __init__(self, group_id: str, max_deployments: int) -> None:
        super().__init__(
            f"Deployment group '{group_id}' has reached maximum deployments ({max_deployments})",
            {"deployment_group_id": group_id, "max_deployments": max_deployments},
        )


class DeploymentLocked(DomainError):
    code = "DEPLOYMENT_LOCKED"

    def __init__(self, deployment_id: str, locked_by: str | None) -> None:
        super().__init__(
            f"Deployment '{deployment_id}' is locked",
            {"deployment_id": deployment_id, "locked_by": locked_by},
        )


class InvalidClientConfig(DomainError):
    code = "INVALID_client_config"  # spelled as the reference server spells it


class NotFound(DomainError):
    code = "NOT_FOUND"
    what = "Resource"
    context_key = "id"

    def __init__(self, ident: str) -> None:
        super().__init__(f"{self.what} '{ident}' not found", {self.context_key: ident})


class DeploymentNotFound(NotFound):
    code = "DEPLOYMENT_NOT_FOUND"
    what = "Deployment"
    context_key = "deployment_id"


class DeploymentGroupNotFound(NotFound):
    code = "DEPLOYMENT_GROUP_NOT_FOUND"
    what = "Deployment group"
    context_key = "deployment_group_id"


class ReleaseNotFound(NotFound):
    code = "RELEASE_NOT_FOUND"
    what = "Release"
    context_key = "release_id"
