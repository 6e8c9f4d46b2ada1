"""docs/behaviour.md §2: who may call what. Authentication comes before anything else."""

from __future__ import annotations

import logging

import pytest

from app.contract.spec import operations, raw_spec
from tests.helpers import ContractClient, bearer

SECURED = sorted(
    (op["operationId"], method, path.replace("{id}", "dep_missing"))
    for path, method, op in operations(raw_spec())
    if op["operationId"] != "health"
)

BAD_AUTH = {
    "no token": ({}, "Authentication required"),
    "basic scheme": ({"Authorization": "Basic YWRtaW46YWRtaW4="}, "Authorization header must use Bearer scheme"),
    "lower-case bearer": ({"Authorization": "bearer ax_admin_x"}, "Authorization header must use Bearer scheme"),
    "unknown token": (bearer("ax_admin_" + "f" * 40), "Invalid token"),
    "empty bearer": ({"Authorization": "Bearer "}, "Invalid token"),
    "empty header": ({"Authorization": ""}, "Authorization header must use Bearer scheme"),
}  # fmt: skip


def test_every_operation_but_health_is_secured():
    assert len(SECURED) == 21


@pytest.mark.parametrize("case", BAD_AUTH, ids=str)
@pytest.mark.parametrize(("op_id", "method", "path"), SECURED, ids=[s[0] for s in SECURED])
def test_unauthenticated_calls_get_401(client, op_id, method, path, case):
    """reference: crates/alien-manager/src/providers/token_db_validator.rs and routes/auth.rs:
    no header "Authentication required"; a header without the `Bearer ` prefix (empty
    included) "Authorization header must use Bearer scheme"; an unknown token "Invalid token";
    the message repeated as `context.reason` (error.rs: Unauthorized { reason })."""
    headers, message = BAD_AUTH[case]
    # An invalid body too: the caller must learn nothing about the request shape.
    response = client.request(method, path, headers=headers, json={"not": "valid"})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["code"] == "UNAUTHORIZED"
    assert body["message"] == message
    assert body["context"] == {"reason": message}
    assert body["retryable"] is False and body["internal"] is False
    assert body["httpStatusCode"] == 401


def test_health_needs_no_token(client):
    """reference: crates/alien-manager/src/routes/health.rs: `{"status": "healthy"}`."""
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy"}


def test_whoami_admin(client, admin, app):
    body = client.get("/v1/whoami", headers=admin).json()
    assert body["kind"] == "serviceAccount"
    assert body["id"].startswith("tok_")
    assert body["scope"] == {"type": "admin"}


def test_whoami_group_token(client, world):
    body = client.get("/v1/whoami", headers=world.group).json()
    assert body == {
        "kind": "serviceAccount",
        "id": world.group_id,
        "scope": {"type": "deployment-group", "deploymentGroupId": world.group_id},
    }


def test_whoami_deployment_token(client, world):
    body = client.get("/v1/whoami", headers=world.deployment).json()
    assert body == {
        "kind": "serviceAccount",
        "id": world.deployment_id,
        "scope": {"type": "deployment", "deploymentId": world.deployment_id},
    }


def test_tokens_have_their_documented_shapes(client, api):
    group_id = api.group()
    token = client.post(f"/v1/deployment-groups/{group_id}/tokens", headers=api.admin).json()
    assert token["token"].startswith("ax_dg_") and len(token["token"]) == 46
    created = client.post(
        "/v1/deployments", json={"name": "d", "platform": "aws"}, headers=bearer(token["token"])
    ).json()
    assert created["token"].startswith("ax_deploy_") and len(created["token"]) == 50
    assert int(created["token"][len("ax_deploy_") :], 16) >= 0


def test_tokens_are_stored_only_as_hashes(client, api):
    import hashlib

    from models.tokens import Token

    group_id = api.group()
    raw = client.post(f"/v1/deployment-groups/{group_id}/tokens", headers=api.admin).json()["token"]
    from models.db import db

    with db.connection_context():
        rows = [(t.token_hash, t.prefix) for t in Token.select()]
    assert (hashlib.sha256(raw.encode()).hexdigest(), raw[:12]) in rows
    assert all(raw not in (h, p) for h, p in rows)


def test_tokens_never_reach_the_log(client, api, caplog):
    caplog.set_level(logging.DEBUG)
    group_id = api.group()
    raw = client.post(f"/v1/deployment-groups/{group_id}/tokens", headers=api.admin).json()["token"]
    client.get("/v1/whoami", headers=bearer(raw))
    client.get("/v1/whoami", headers=bearer(raw + "x"))
    secret = api.admin["Authorization"].split()[1]
    assert caplog.records, "expected access log lines"
    assert raw not in caplog.text and secret not in caplog.text


def test_every_group_token_call_mints_another_valid_token(client, api):
    group_id = api.group()
    first = api.group_token(group_id)
    second = api.group_token(group_id)
    assert first != second
    for headers in (first, second):
        assert client.get("/v1/whoami", headers=headers).json()["id"] == group_id


class TestDevMode:
    @pytest.fixture
    def settings(self, settings):
        from dataclasses import replace

        return replace(settings, dev_mode=True, admin_token=None)

    def test_every_request_is_an_admin_named_dev(self, client):
        """reference: crates/alien-manager/src/providers/permissive_auth.rs: every request is
        an admin whose token id is "dev", which whoami returns as `id`."""
        for headers in ({}, bearer("anything"), {"Authorization": "Basic x"}):
            body = client.get("/v1/whoami", headers=headers).json()
            assert body == {"kind": "serviceAccount", "id": "dev", "scope": {"type": "admin"}}

    def test_local_dev_group_exists(self, client):
        body = client.get("/v1/deployment-groups/local-dev").json()
        assert body["name"] == "local-dev" and body["maxDeployments"] == 100

    def test_local_dev_group_only_when_no_group_exists(self, settings):
        """reference: crates/alien-manager/src/builder.rs: in dev mode the `local-dev` group is
        created only when listing the groups finds none."""
        from dataclasses import replace

        from app.factory import create_app

        admin_token = "ax_admin_" + "0" * 40
        with ContractClient(
            create_app(replace(settings, dev_mode=False, admin_token=admin_token))
        ) as normal:
            made = normal.post(
                "/v1/deployment-groups", json={"name": "mine"}, headers=bearer(admin_token)
            )
            assert made.status_code == 200, made.text
        with ContractClient(create_app(settings)) as dev:
            names = [g["name"] for g in dev.get("/v1/deployment-groups").json()["items"]]
            missing = dev.get("/v1/deployment-groups/local-dev")
        assert names == ["mine"]
        assert missing.status_code == 404
