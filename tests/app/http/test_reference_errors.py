"""docs/behaviour.md §10: error bodies as the reference server writes them.

The reference builds every error from one enum (crates/alien-manager/src/error.rs) whose named
fields become `context`; these tests pin the bodies a client of the reference matches on.
"""

from __future__ import annotations

import os

import peewee
import pytest
from starlette.testclient import TestClient

from models.tokens import Token
from tests.helpers import stack


def test_bad_request_carries_its_reason(client, admin):
    """reference: crates/alien-manager/src/error.rs: BadRequest { reason } (message "{reason}"),
    so the message is repeated as `context.reason`."""
    response = client.post("/v1/deployments", json={"name": "d", "platform": "aws"}, headers=admin)
    assert response.status_code == 400
    assert response.json() == {
        "code": "BAD_REQUEST",
        "message": "No deployment groups exist. Create one first.",
        "context": {"reason": "No deployment groups exist. Create one first."},
        "retryable": False,
        "internal": False,
        "httpStatusCode": 400,
    }


def test_bad_request_keeps_our_extra_context_after_the_reason(client, admin):
    """The reason first, as the reference has it; `platform` is ours (§5.3 validates every
    platform's stack, the reference only one)."""
    response = client.post(
        "/v1/releases", json={"stack": {"aws": stack(), "gcp": {"id": 5}}}, headers=admin
    )
    body = response.json()
    assert body["code"] == "BAD_REQUEST" and body["message"].startswith("Invalid stack format: ")
    assert body["context"] == {"reason": body["message"], "platform": "gcp"}


def test_full_group(client, api):
    """reference: crates/alien-manager/src/error.rs: MaxDeploymentsReached, message
    "Deployment group '{deployment_group_id}' has reached maximum deployments
    ({max_deployments})", both fields in `context`, not retryable."""
    group_id = api.group("small", max_deployments=1)
    token = api.group_token(group_id)
    api.deployment(token, "first")
    response = client.post("/v1/deployments", json={"name": "x", "platform": "aws"}, headers=token)
    assert response.status_code == 400
    assert response.json() == {
        "code": "MAX_DEPLOYMENTS_REACHED",
        "message": f"Deployment group '{group_id}' has reached maximum deployments (1)",
        "context": {"deployment_group_id": group_id, "max_deployments": 1},
        "retryable": False,
        "internal": False,
        "httpStatusCode": 400,
    }


def test_deployment_locked(client, api, admin):
    """reference: crates/alien-manager/src/error.rs: DeploymentLocked, message
    "Deployment '{deployment_id}' is locked", context {deployment_id, locked_by}, retryable."""
    deployment_id, _ = api.deployment(api.group_token(api.group()))
    leased = client.post("/v1/sync/acquire", json={"session": "worker-a"}, headers=admin)
    assert [d["deployment"]["id"] for d in leased.json()["deployments"]] == [deployment_id]
    state = {"status": "provisioning", "platform": "aws"}
    response = client.post(
        "/v1/sync/reconcile",
        json={"deploymentId": deployment_id, "session": "worker-b", "state": state},
        headers=admin,
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "DEPLOYMENT_LOCKED",
        "message": f"Deployment '{deployment_id}' is locked",
        "context": {"deployment_id": deployment_id, "locked_by": "worker-a"},
        "retryable": True,
        "internal": False,
        "httpStatusCode": 409,
    }


def test_error_bodies_are_compact_json(client, admin):
    """Like every other response (and like the reference's serde_json): no padding spaces."""
    response = client.get("/v1/deployments/dep_x", headers=admin)
    assert response.content.startswith(b'{"code":"DEPLOYMENT_NOT_FOUND","message":')
    assert b'", "' not in response.content and b'": ' not in response.content


# -- 500s ----------------------------------------------------------------------------------


def failing_lookup(exc: Exception):
    def lookup(cls, raw):
        raise exc

    return classmethod(lookup)


@pytest.fixture
def raw_client(app):
    """A client that lets 5xx through (the `client` fixture's second validator refuses them)."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "failure",
    [
        peewee.OperationalError("could not connect to server at 10.1.2.3:5432 /var/run/pg.sock"),
        peewee.InterfaceError("connection already closed (SELECT * FROM token)"),
    ],
    ids=["operational", "interface"],
)
def test_a_failing_database_is_a_retryable_database_error(
    raw_client, admin, monkeypatch, caplog, failure
):
    """reference: crates/alien-manager/src/error.rs: DatabaseError, message "Database operation
    failed: {message}", retryable and internal; the summary names no host, SQL or path (the
    driver's words go to the log only)."""
    monkeypatch.setattr(Token, "authenticate", failing_lookup(failure))
    response = raw_client.get("/v1/whoami", headers=admin)
    assert response.status_code == 500
    assert response.json() == {
        "code": "DATABASE_ERROR",
        "message": "Database operation failed: database unavailable",
        "retryable": True,
        "internal": True,
        "httpStatusCode": 500,
    }
    assert str(failure) in caplog.text


def test_a_bug_that_surfaces_in_the_database_stays_a_generic_error(raw_client, admin, monkeypatch):
    """An IntegrityError is our bug, not an outage: not retryable, the reference's GenericError
    flags (crates/alien-error/src/lib.rs: GENERIC_ERROR, retryable false, internal false)."""
    monkeypatch.setattr(Token, "authenticate", failing_lookup(peewee.IntegrityError("dup key")))
    response = raw_client.get("/v1/whoami", headers=admin)
    assert response.json() == {
        "code": "GENERIC_ERROR",
        "message": "Internal server error",
        "retryable": False,
        "internal": False,
        "httpStatusCode": 500,
    }


def test_a_database_file_that_cannot_be_opened(raw_client, admin, settings):
    """A real failure, not a stand-in: the SQLite file is gone and a directory holds its name.
    It goes before the first request: a thread keeps its connection once it has one
    (models.db.request_connection), and an open connection still reads the unlinked file."""
    if not settings.database_url.startswith("sqlite:///"):
        pytest.skip("a SQLite file replaced under a running server")
    path = settings.database_url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    os.mkdir(path)
    response = raw_client.get("/v1/whoami", headers=admin)
    assert response.status_code == 500
    assert response.json()["code"] == "DATABASE_ERROR"
    assert response.json()["retryable"] is True
    assert path not in response.text
