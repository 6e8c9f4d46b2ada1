"""resolve_credentials (docs/behaviour.md §5.4): the cloud client configuration for a deployment.

Built from the server's own credentials (`Settings.cloud`, read from each cloud's standard
environment variables), in the reference's `ClientConfig` wire form. Only an admin or a token
of the deployment's own group gets them; deployment tokens never do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.settings import CLOUD_ENV, CloudSettings, Settings
from handlers.render import present
from models.deployments import Deployment
from models.errors import ANY_GROUP_TOKEN_REQUIRED, Forbidden, InvalidClientConfig
from models.tokens import DEPLOYMENT, Caller


def resolve_credentials(caller: Caller, settings: Settings, body: dict[str, Any]) -> dict[str, Any]:
    deployment = Deployment.get_or_404(body["deploymentId"])
    if caller.kind == DEPLOYMENT:
        raise Forbidden(ANY_GROUP_TOKEN_REQUIRED)
    caller.require_group(deployment.deployment_group_id)
    return {"clientConfig": client_config(deployment.platform, settings)}


def client_config(platform: str, settings: Settings) -> dict[str, Any] | None:
    if platform == "local":
        return {"platform": "local", "state_directory": str(settings.state_dir)}
    if platform == "test":
        return None
    build = BUILDERS.get(platform)
    if build is None:
        raise InvalidClientConfig(f"Invalid platform configuration: unknown platform {platform!r}")
    return {"platform": platform} | build(settings.cloud)


def _require(cloud: CloudSettings, platform: str, *fields: str) -> None:
    missing = [CLOUD_ENV[name] for name in fields if getattr(cloud, name) is None]
    if missing:
        raise InvalidClientConfig(
            f"Invalid platform configuration: {platform} credentials are not configured "
            f"(missing {', '.join(missing)})"
        )


def _aws(cloud: CloudSettings) -> dict[str, Any]:
    _require(cloud, "aws", "aws_access_key_id", "aws_secret_access_key", "aws_region")
    credentials = {
        "type": "accessKeys",
        "access_key_id": cloud.aws_access_key_id,
        "secret_access_key": cloud.aws_secret_access_key,
    } | present(session_token=cloud.aws_session_token)
    return {"region": cloud.aws_region, "credentials": credentials}


def _gcp(cloud: CloudSettings) -> dict[str, Any]:
    _require(cloud, "gcp", "gcp_project", "gcp_credentials_file")
    assert cloud.gcp_credentials_file is not None
    try:
        key = Path(cloud.gcp_credentials_file).read_text()
    except (OSError, UnicodeDecodeError):
        raise InvalidClientConfig(
            "Invalid platform configuration: gcp credentials file "
            f"({CLOUD_ENV['gcp_credentials_file']}) cannot be read"
        ) from None
    credentials = {"type": "serviceAccountKey", "json": key}
    return (
        {"projectId": cloud.gcp_project}
        | present(region=cloud.gcp_region)
        | {"credentials": credentials}
    )


def _azure(cloud: CloudSettings) -> dict[str, Any]:
    _require(
        cloud,
        "azure",
        "azure_tenant_id",
        "azure_subscription_id",
        "azure_client_id",
        "azure_client_secret",
    )
    credentials = {
        "type": "servicePrincipal",
        "client_id": cloud.azure_client_id,
        "client_secret": cloud.azure_client_secret,
    }
    return {"subscriptionId": cloud.azure_subscription_id, "tenantId": cloud.azure_tenant_id} | (
        present(region=cloud.azure_location) | {"credentials": credentials}
    )


def _kubernetes(cloud: CloudSettings) -> dict[str, Any]:
    namespace = present(namespace=cloud.kubernetes_namespace)
    if cloud.kubeconfig is not None:
        return {"mode": "kubeconfig", "kubeconfig_path": cloud.kubeconfig} | namespace
    if cloud.kubernetes_host is not None:
        return {"mode": "inCluster"} | namespace
    raise InvalidClientConfig(
        "Invalid platform configuration: kubernetes credentials are not configured "
        f"(missing {CLOUD_ENV['kubeconfig']} or {CLOUD_ENV['kubernetes_host']})"
    )


BUILDERS: dict[str, Callable[[CloudSettings], dict[str, Any]]] = {
    "aws": _aws,
    "gcp": _gcp,
    "azure": _azure,
    "kubernetes": _kubernetes,
}
