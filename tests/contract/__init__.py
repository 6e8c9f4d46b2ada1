"""Contract conformance: what the in-process tests and `make contract` share.

`hooks` holds the custom schemathesis checks (and, for the CLI, the deployment caller's
auth); `run` drives the deep CLI pass. Both runs use the verbatim openapi.json and the
repository's schemathesis.toml, and configure the server the same way: every cloud's
credentials set (to harmless fake values), so that resolve_credentials answers 200 for every
platform and the one behavioural 5xx (docs/behaviour.md §5.4, a server without a cloud's
credentials) never masks a real one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.settings import CLOUD_ENV


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class DeploymentToken:
    """The deployment caller's credentials, kept valid for a whole fuzzing run.

    A deployment token may remove its own deployment (reconcile with status `deleted`,
    docs/behaviour.md §7.2), which revokes the token (§5.2): correct, and the fuzzer finds it
    quickly, but every later call would then be a 401. So before each call the token is
    checked (`whoami`) and, once revoked, replaced the way an operator recovers: `initialize`
    with the group's token and the deployment's name (§7.5), which answers a fresh token for
    the deployment, or for a new one of that name.

    `client` is anything with httpx's `get`/`post` (an httpx.Client on a base URL, or the
    in-process test client).
    """

    def __init__(self, client: Any, group_token: str, token: str, name: str) -> None:
        self.client = client
        self.group_token = group_token
        self.token = token
        self.name = name
        self.renewed = 0

    def headers(self) -> dict[str, str]:
        if self.client.get("/v1/whoami", headers=bearer(self.token)).status_code == 401:
            response = self.client.post(
                "/v1/initialize", json={"name": self.name}, headers=bearer(self.group_token)
            )
            response.raise_for_status()
            self.token = response.json()["token"]
            self.renewed += 1
        return bearer(self.token)


def cloud_env(directory: Path) -> dict[str, str]:
    """The standard credential variables of every cloud, with fake values (the GCP key file
    is written into `directory`)."""
    key_file = directory / "gcp-service-account.json"
    key_file.write_text(json.dumps({"type": "service_account", "project_id": "contract"}))
    values = {
        "aws_access_key_id": "AKIACONTRACTTEST",
        "aws_secret_access_key": "contract-secret",
        "aws_region": "eu-west-1",
        "aws_account_id": "123456789012",
        "gcp_project": "contract",
        "gcp_region": "europe-west1",
        "gcp_credentials_file": str(key_file),
        "azure_tenant_id": "00000000-0000-4000-8000-000000000001",
        "azure_subscription_id": "00000000-0000-4000-8000-000000000002",
        "azure_client_id": "00000000-0000-4000-8000-000000000003",
        "azure_client_secret": "contract-secret",
        "azure_location": "westeurope",
        "kubernetes_host": "10.0.0.1",
        "kubernetes_port": "443",
        "kubernetes_namespace": "contract",
    }
    return {CLOUD_ENV[name]: value for name, value in values.items()}
