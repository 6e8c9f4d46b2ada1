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
    """alien-core's `AwsClientConfig` (crates/alien-core/src/client_config.rs:77): `accountId`
    and `region` required, `credentials.session_token` null when unset."""
    fields = ("aws_access_key_id", "aws_secret_access_key", "aws_account_id", "aws_region")
    _require(cloud, "aws", *fields)
    credentials = {
        "type": "accessKeys",
        "access_key_id": cloud.aws_access_key_id,
        "secret_access_key": cloud.aws_secret_access_key,
        "session_token": cloud.aws_session_token,
    }
    return {"accountId": cloud.aws_account_id, "region": cloud.aws_region} | {
        "credentials": credentials
    }


def _gcp(cloud: CloudSettings) -> dict[str, Any]:
    """alien-core's `GcpClientConfig` (client_config.rs:164): `region` is required."""
    _require(cloud, "gcp", "gcp_project", "gcp_region", "gcp_credentials_file")
    assert cloud.gcp_credentials_file is not None
    try:
        key = Path(cloud.gcp_credentials_file).read_text()
    except (OSError, UnicodeDecodeError):
        raise invalid(
            "gcp", f"Failed to read the file named by {CLOUD_ENV['gcp_credentials_file']}"
        ) from None
    credentials = {"type": "serviceAccountKey", "json": key}
    return {"projectId": cloud.gcp_project, "region": cloud.gcp_region, "credentials": credentials}


def _azure(cloud: CloudSettings) -> dict[str, Any]:
    """alien-core's `AzureClientConfig` (client_config.rs:243): `region` is an `Option`
    serialised as null when unset."""
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
    return {
        "subscriptionId": cloud.azure_subscription_id,
        "tenantId": cloud.azure_tenant_id,
        "region": cloud.azure_location,
        "credentials": credentials,
    }


#: A pod's service-account token: where it exists, Kubernetes clients run in-cluster.
SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def _kubernetes(cloud: CloudSettings) -> dict[str, Any]:
    """alien-core's `KubernetesClientConfig` (client_config.rs:261), chosen as the reference's
    `KubernetesClientConfig::from_env` chooses
    (crates/alien-k8s-clients/src/kubernetes/mod.rs:70-96):
    `manual` when KUBERNETES_SERVER_URL is set; else `inCluster` when KUBERNETES_SERVICE_HOST and
    _PORT are set or the service-account token exists (mod.rs:276-286); else `kubeconfig`,
    which needs nothing (the client's default kubeconfig). Never an error."""
    if cloud.kubernetes_server_url is not None:
        return {  # `Manual`'s options are not skipped when None: they are null
            "mode": "manual",
            "server_url": cloud.kubernetes_server_url,
            "certificate_authority_data": cloud.kubernetes_ca_data,
            "insecure_skip_tls_verify": None,
            "client_certificate_data": cloud.kubernetes_client_cert_data,
            "client_key_data": cloud.kubernetes_client_key_data,
            "token": cloud.kubernetes_bearer_token,
            "username": None,
            "password": None,
            "namespace": cloud.kubernetes_namespace,
            "additional_headers": {},
        }
    namespace = present(namespace=cloud.kubernetes_namespace)
    service = cloud.kubernetes_host is not None and cloud.kubernetes_port is not None
    if service or SERVICE_ACCOUNT_TOKEN.exists():
        return {"mode": "inCluster"} | namespace
    chosen = present(
        kubeconfig_path=cloud.kubeconfig,
        context=cloud.kubernetes_context,
        cluster=cloud.kubernetes_cluster,
        user=cloud.kubernetes_user,
    )
    return {"mode": "kubeconfig"} | chosen | namespace


BUILDERS: dict[str, Callable[[CloudSettings], dict[str, Any]]] = {
    "aws": _aws,
    "gcp": _gcp,
    "azure": _azure,
    "kubernetes": _kubernetes,
}
