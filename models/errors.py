"""Domain errors. Each carries the spec's AlienError `code`; app/errors.py maps codes to HTTP."""

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


class MaxDeploymentsReached(DomainError):
    code = "MAX_DEPLOYMENTS_REACHED"


class DeploymentLocked(DomainError):
    code = "DEPLOYMENT_LOCKED"


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
