"""The cloud client configuration resolve_credentials hands out (docs/behaviour.md §5.4).

Built from the server's own credentials (`Settings.cloud`, read from each cloud's standard
environment variables), in the reference's `ClientConfig` wire form. The handler gets
`client_config` bound to the app's settings (handlers.OPERATIONS: `client_config`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.settings import CLOUD_ENV, CloudSettings, Settings
from handlers.render import present
from models.errors import InvalidClientConfig

#: How the reference names each cloud in its "Failed to create … client configuration" message.
LABELS = {"aws": "AWS", "gcp": "GCP", "azure": "Azure", "kubernetes": "Kubernetes"}


def client_config(platform: str, settings: Settings) -> dict[str, Any] | None:
    """The `clientConfig` for a deployment on `platform`; None for the `test` platform."""
    if platform == "local":
        return {"platform": "local", "state_directory": settings.cloud.local_state_directory}
    if platform == "test":
        return None
    return {"platform": platform} | BUILDERS[platform](settings.cloud)


def invalid(platform: str, reason: str) -> InvalidClientConfig:
    """The reference's error, as it arrives from its ClientConfig::from_env: the cloud's own
    InvalidClientConfig wrapped in another (crates/alien-client-config/src/client_config_ext.rs,
    crates/alien-client-core/src/error.rs: message "Invalid platform configuration: {message}",
    context `{message, errors}`; the inner error is formatted as "CODE: message")."""
    inner = (
        f"Failed to create {LABELS[platform]} client configuration from environment variables: "
        f"INVALID_client_config: Invalid platform configuration: {reason}"
    )
    return InvalidClientConfig(
        f"Invalid platform configuration: {inner}", {"message": inner, "errors": None}
    )


def _require(cloud: CloudSettings, platform: str, *fields: str) -> None:
    missing = [CLOUD_ENV[name] for name in fields if getattr(cloud, name) is None]
    if len(missing) == 1:
        raise invalid(platform, f"Missing {missing[0]} environment variable")
    if missing:
        raise invalid(platform, f"Missing {', '.join(missing)} environment variables")


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
        raise invalid(
            "gcp", f"Failed to read the file named by {CLOUD_ENV['gcp_credentials_file']}"
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
    raise invalid(
        "kubernetes",
        f"Missing {CLOUD_ENV['kubeconfig']} or {CLOUD_ENV['kubernetes_host']} environment variable",
    )


BUILDERS: dict[str, Callable[[CloudSettings], dict[str, Any]]] = {
    "aws": _aws,
    "gcp": _gcp,
    "azure": _azure,
    "kubernetes": _kubernetes,
}
