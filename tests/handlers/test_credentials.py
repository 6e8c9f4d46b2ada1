"""resolve_credentials (docs/behaviour.md §5.4): the server's cloud settings, per platform."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from app import cloud as cloud_module
from app.settings import CloudSettings, Settings

GCP_KEY = json.dumps({"type": "service_account", "project_id": "proj", "private_key": "K"})
SECRETS = ("aws-secret", "azure-secret", "session-tok", "private_key")


@pytest.fixture
def cloud(tmp_path: Path) -> CloudSettings:
    key_file = tmp_path / "gcp-key.json"
    key_file.write_text(GCP_KEY)
    return CloudSettings(
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="aws-secret",
        aws_session_token="session-tok",
        aws_region="eu-west-1",
        aws_account_id="123456789012",
        gcp_project="proj",
        gcp_region="europe-west1",
        gcp_credentials_file=str(key_file),
        azure_tenant_id="tenant",
        azure_subscription_id="sub",
        azure_client_id="client",
        azure_client_secret="azure-secret",
        azure_location="westeurope",
        kubeconfig="/etc/kube/config",
        kubernetes_namespace="apps",
    )


@pytest.fixture
def settings(settings: Settings, cloud: CloudSettings) -> Settings:
    return dataclasses.replace(settings, cloud=cloud)


def resolve(client: Any, headers: dict[str, str], deployment_id: str) -> Any:
    return client.post(
        "/v1/resolve-credentials", json={"deploymentId": deployment_id}, headers=headers
    )


def deployment_on(api: Any, platform: str) -> tuple[str, dict[str, str]]:
    """A deployment on `platform`, and its group's token."""
    group = api.group_token(api.group())
    return api.deployment(group, "d", platform)[0], group


EXPECTED = {
    "aws": {
        "platform": "aws",
        "accountId": "123456789012",
        "region": "eu-west-1",
        "credentials": {
            "type": "accessKeys",
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "aws-secret",
            "session_token": "session-tok",
        },
    },
    "gcp": {
        "platform": "gcp",
        "projectId": "proj",
        "region": "europe-west1",
        "credentials": {"type": "serviceAccountKey", "json": GCP_KEY},
    },
    "azure": {
        "platform": "azure",
        "subscriptionId": "sub",
        "tenantId": "tenant",
        "region": "westeurope",
        "credentials": {"type": "servicePrincipal", "client_id": "client", "client_secret": "azure-secret"},
    },
    "kubernetes": {
        "platform": "kubernetes",
        "mode": "kubeconfig",
        "kubeconfig_path": "/etc/kube/config",
        "namespace": "apps",
    },
    "test": None,
}  # fmt: skip


@pytest.mark.parametrize("platform, expected", EXPECTED.items())
def test_client_config_per_platform(client, api, platform, expected):
    deployment_id, group = deployment_on(api, platform)
    response = resolve(client, group, deployment_id)
    assert response.status_code == 200, response.text
    assert response.json() == {"clientConfig": expected}


@pytest.mark.parametrize(
    ("cloud", "directory"),
    [(CloudSettings(), "/tmp/alien-local"), (CloudSettings(local_state_directory="/srv/l"), "/srv/l")],
    ids=["default", "ALIEN_LOCAL_STATE_DIRECTORY"],
)  # fmt: skip
def test_local_gets_the_local_platforms_directory(client, api, directory):
    """reference: crates/alien-client-config/src/client_config_ext.rs, `Platform::Local`:
    `state_directory` is ALIEN_LOCAL_STATE_DIRECTORY, else /tmp/alien-local; not the server's
    own state directory."""
    deployment_id, group = deployment_on(api, "local")
    config = resolve(client, group, deployment_id).json()["clientConfig"]
    assert config == {"platform": "local", "state_directory": directory}


def test_local_state_directory_is_read_from_its_variable():
    env = {"ALIEN_LOCAL_STATE_DIRECTORY": "/var/lib/alien-local"}
    assert Settings.from_env(env).cloud.local_state_directory == "/var/lib/alien-local"


@pytest.mark.parametrize(
    "cloud", [CloudSettings(kubernetes_host="10.0.0.1", kubernetes_port="443")]
)
def test_kubernetes_in_cluster(client, api):
    deployment_id, group = deployment_on(api, "kubernetes")
    assert resolve(client, group, deployment_id).json()["clientConfig"] == {
        "platform": "kubernetes",
        "mode": "inCluster",
    }


@pytest.mark.parametrize("cloud", [CloudSettings()])
@pytest.mark.parametrize(
    "platform, label, reason",
    [
        ("aws", "AWS", "Missing AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ACCOUNT_ID, AWS_REGION environment variables"),
        ("gcp", "GCP", "Missing GOOGLE_CLOUD_PROJECT, GOOGLE_CLOUD_REGION, GOOGLE_APPLICATION_CREDENTIALS environment variables"),
        ("azure", "Azure", "Missing AZURE_TENANT_ID, AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET environment variables"),
    ],
)  # fmt: skip
def test_missing_cloud_settings_are_invalid_client_config(client, api, platform, label, reason):
    """reference: crates/alien-client-config/src/client_config_ext.rs wraps the cloud's own
    InvalidClientConfig (crates/alien-client-core/src/error.rs: "Invalid platform
    configuration: {message}", context {message, errors}) in another, formatting the inner one
    as "CODE: message". The reasons are ours: the variables this server reads. The status is
    503, not the reference's 500: issue 22 wants no 500 for missing configuration."""
    deployment_id, group = deployment_on(api, platform)
    response = resolve(client, group, deployment_id)
    assert response.status_code == 503
    inner = (
        f"Failed to create {label} client configuration from environment variables: "
        f"INVALID_client_config: Invalid platform configuration: {reason}"
    )
    assert response.json() == {
        "code": "INVALID_client_config",
        "message": f"Invalid platform configuration: {inner}",
        "context": {"message": inner, "errors": None},
        "retryable": False,
        "internal": False,
        "httpStatusCode": 503,
    }


PARTIAL = CloudSettings(
    aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="aws-secret", aws_account_id="1"
)


@pytest.mark.parametrize("cloud", [PARTIAL])
def test_partial_settings_name_what_is_missing_and_never_the_secrets(client, api):
    deployment_id, group = deployment_on(api, "aws")
    response = resolve(client, group, deployment_id)
    assert response.status_code == 503
    assert response.json()["message"].endswith(": Missing AWS_REGION environment variable")
    assert "aws-secret" not in response.text and "AKIDEXAMPLE" not in response.text


@pytest.mark.parametrize(
    "cloud", [CloudSettings(gcp_project="p", gcp_region="r", gcp_credentials_file="/no/key")]
)
def test_an_unreadable_gcp_key_file_is_invalid_client_config(client, api):
    deployment_id, group = deployment_on(api, "gcp")
    response = resolve(client, group, deployment_id)
    assert response.status_code == 503
    assert response.json()["code"] == "INVALID_client_config"
    assert "/no/key" not in response.text  # no server file paths reach a client


@pytest.mark.parametrize("platform", ["aws", "gcp", "azure", "kubernetes"])
def test_no_secret_leaves_the_deployments_group(client, api, admin, platform):
    deployment_id, group = deployment_on(api, platform)
    _, own_token = api.deployment(group, "same-group", platform)
    other_group = api.group_token(api.group("other"))
    for outsider in (other_group, own_token):
        response = resolve(client, outsider, deployment_id)
        assert response.status_code == 403
        assert not any(secret in response.text for secret in SECRETS)
    assert resolve(client, admin, deployment_id).json() == {"clientConfig": EXPECTED[platform]}


def test_unknown_deployment_is_404(client, admin):
    response = resolve(client, admin, "dep_nope")
    assert response.status_code == 404 and response.json()["code"] == "DEPLOYMENT_NOT_FOUND"


# -- issue 22, items 3, 4, 9: the reference's shapes and order, field by field -------------------


def kubernetes_config(client: Any, api: Any) -> Any:
    deployment_id, group = deployment_on(api, "kubernetes")
    response = resolve(client, group, deployment_id)
    assert response.status_code == 200, response.text
    return response.json()["clientConfig"]


@pytest.mark.parametrize("cloud", [CloudSettings()])
def test_kubernetes_without_any_setting_is_kubeconfig(client, api, monkeypatch, tmp_path):
    """reference: crates/alien-k8s-clients/src/kubernetes/mod.rs:91-95 falls back to kubeconfig
    mode (the client's default kubeconfig) whatever is missing: 200, never an error."""
    monkeypatch.setattr(cloud_module, "SERVICE_ACCOUNT_TOKEN", tmp_path / "absent")
    assert kubernetes_config(client, api) == {"platform": "kubernetes", "mode": "kubeconfig"}


@pytest.mark.parametrize(
    "cloud",
    [CloudSettings(kubernetes_host="10.0.0.1", kubeconfig="/k", kubernetes_namespace="ns")],
)
def test_kubernetes_service_host_without_port_is_not_in_cluster(client, api, monkeypatch, tmp_path):
    """reference: mod.rs:276-286: in-cluster needs KUBERNETES_SERVICE_HOST *and* _PORT (or the
    service-account token file); mod.rs:214-231: kubeconfig's fields, absent when unset
    (client_config.rs:272-291 skips None)."""
    monkeypatch.setattr(cloud_module, "SERVICE_ACCOUNT_TOKEN", tmp_path / "absent")
    assert kubernetes_config(client, api) == {
        "platform": "kubernetes",
        "mode": "kubeconfig",
        "kubeconfig_path": "/k",
        "namespace": "ns",
    }


@pytest.mark.parametrize("cloud", [CloudSettings(kubeconfig="/k", kubernetes_namespace="ns")])
def test_kubernetes_service_account_token_is_in_cluster(client, api, monkeypatch, tmp_path):
    """reference: mod.rs:80-83 (in-cluster before KUBECONFIG) and mod.rs:281-283 (the token
    file alone is enough)."""
    token = tmp_path / "token"
    token.write_text("t")
    monkeypatch.setattr(cloud_module, "SERVICE_ACCOUNT_TOKEN", token)
    assert kubernetes_config(client, api) == {
        "platform": "kubernetes",
        "mode": "inCluster",
        "namespace": "ns",
    }


@pytest.mark.parametrize(
    "cloud",
    [
        CloudSettings(
            kubernetes_server_url="https://k8s:6443",
            kubernetes_bearer_token="tok",
            kubernetes_host="10.0.0.1",
            kubernetes_port="443",
            kubeconfig="/k",
        )
    ],
)
def test_kubernetes_server_url_is_manual_before_anything(client, api):
    """reference: mod.rs:73-77 (KUBERNETES_SERVER_URL first), mod.rs:234-273 and
    client_config.rs:293-314 (`Manual`: its options are serialised as null, not skipped)."""
    assert kubernetes_config(client, api) == {
        "platform": "kubernetes",
        "mode": "manual",
        "server_url": "https://k8s:6443",
        "certificate_authority_data": None,
        "insecure_skip_tls_verify": None,
        "client_certificate_data": None,
        "client_key_data": None,
        "token": "tok",
        "username": None,
        "password": None,
        "namespace": None,
        "additional_headers": {},
    }


@pytest.mark.parametrize(
    "cloud",
    [
        CloudSettings(
            aws_access_key_id="A", aws_secret_access_key="S", aws_account_id="1", aws_region="r"
        )
    ],
)
def test_aws_session_token_is_null_when_unset(client, api):
    """reference: crates/alien-core/src/client_config.rs:56-65 (`session_token: Option<String>`
    with no skip: null) and :77-87 (`account_id` required, camelCase `accountId`)."""
    deployment_id, group = deployment_on(api, "aws")
    assert resolve(client, group, deployment_id).json()["clientConfig"] == {
        "platform": "aws",
        "accountId": "1",
        "region": "r",
        "credentials": {
            "type": "accessKeys",
            "access_key_id": "A",
            "secret_access_key": "S",
            "session_token": None,
        },
    }


@pytest.mark.parametrize(
    "cloud",
    [
        CloudSettings(
            azure_tenant_id="t", azure_subscription_id="s", azure_client_id="c",
            azure_client_secret="x",
        )
    ],
)  # fmt: skip
def test_azure_region_is_null_when_unset(client, api):
    """reference: client_config.rs:243-255 (`region: Option<String>`, no skip: null)."""
    deployment_id, group = deployment_on(api, "azure")
    config = resolve(client, group, deployment_id).json()["clientConfig"]
    assert "region" in config and config["region"] is None


def test_a_deployment_token_is_403_before_the_lookup(client, api, world):
    """reference: crates/alien-manager/src/routes/credentials.rs:62-76:
    `require_admin_or_any_group` runs before the deployment is read, so a deployment token learns
    nothing about which ids exist."""
    for deployment_id in ("dep_nope", world.other_deployment_id, world.deployment_id):
        response = resolve(client, world.deployment, deployment_id)
        assert response.status_code == 403, response.text
        assert response.json()["message"] == (
            "Access denied: requires admin or deployment group token"
        )
