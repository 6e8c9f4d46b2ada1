"""A worker's reconcile cannot undo what an admin or a group asked for (docs/behaviour.md §7.2,
issue 21 item 7): a deletion moves only forward, a retry or redeploy survives until an engine
acquires the deployment, and `deleted` is reported only for a deployment asked to be deleted.
A deployment reported `deleted` stays, with its tokens, until its lease is released or stale.
"""

from __future__ import annotations

from typing import Any

import peewee
import pytest

from models import clock
from models.db import bind_database, db
from models.deployments import Deployment
from models.engines import make_database
from models.schema import MIGRATIONS, TABLES, SchemaMigration, migrate
from tests.helpers import acquire, assert_error, post, reconcile

TTL = 300  # the settings' default lease lifetime


@pytest.fixture
def leased(api: Any) -> tuple[str, dict[str, str]]:
    """A deployment its engine acquired (session "engine") before anyone asked for anything."""
    deployment_id, token = api.deployment(api.group_token(api.group()), "d", "aws")
    assert [d["id"] for d in acquire(api.client, token, "engine")] == [deployment_id]
    return deployment_id, token


def status(api: Any, deployment_id: str) -> Any:
    return api.get(f"/v1/deployments/{deployment_id}")["status"]


def set_status(deployment_id: str, value: str) -> None:
    with db.connection_context():
        Deployment.update(status=value).where(Deployment.id == deployment_id).execute()


#: (status the admin's deletion is at, what the engine reports, the status stored after).
DELETION = [
    ("delete-pending", "running", "delete-pending"),
    ("delete-pending", "update-pending", "delete-pending"),
    ("delete-pending", "provisioning-failed", "delete-pending"),
    ("delete-pending", "deleting", "deleting"),
    ("delete-pending", "delete-failed", "delete-failed"),
    ("deleting", "running", "deleting"),
    ("deleting", "delete-pending", "deleting"),
    ("deleting", "delete-failed", "delete-failed"),
    ("delete-failed", "running", "delete-failed"),
    ("delete-failed", "deleting", "deleting"),
    ("deleted", "running", "deleted"),
    ("deleted", "delete-pending", "deleted"),
]


@pytest.mark.parametrize(("before", "reported", "after"), DELETION)
def test_a_deletion_moves_only_forward(api, leased, before, reported, after):
    deployment_id, token = leased
    deleted = api.client.delete(f"/v1/deployments/{deployment_id}", headers=api.admin)
    assert deleted.status_code == 202
    if before != "delete-pending":
        set_status(deployment_id, before)
    runtime = {"reported": reported}
    current = reconcile(
        api.client, token, deployment_id, "engine",
        status=reported, platform="aws", runtimeMetadata=runtime,
    )  # fmt: skip
    assert current["status"] == after
    assert current["runtimeMetadata"] == runtime  # the rest of the report is stored
    assert status(api, deployment_id) == after


def test_the_deletion_an_admin_asked_for_survives_the_engines_report_of_running(api, leased):
    deployment_id, token = leased
    deleted = api.client.delete(f"/v1/deployments/{deployment_id}", headers=api.admin)
    assert deleted.status_code == 202
    reconcile(api.client, token, deployment_id, "engine", status="running", platform="aws")
    post(api.client, "/v1/sync/release", token, deploymentId=deployment_id, session="engine")
    [record] = acquire(api.client, token, "next")
    assert record["status"] == "delete-pending"


@pytest.mark.parametrize("reported", ["running", "updating", "update-failed"])
def test_a_redeploy_survives_until_an_engine_acquires(api, leased, reported):
    deployment_id, token = leased
    post(api.client, f"/v1/deployments/{deployment_id}/redeploy", token)
    current = reconcile(api.client, token, deployment_id, "engine", status=reported, platform="aws")
    assert current["status"] == "update-pending"
    [record] = acquire(api.client, token, "engine")  # the same engine, re-entrant: it sees it now
    assert record["status"] == "update-pending"
    current = reconcile(api.client, token, deployment_id, "engine", status=reported, platform="aws")
    assert current["status"] == reported


def test_a_retry_survives_until_an_engine_acquires(api, leased):
    deployment_id, token = leased
    failed = {"status": "provisioning-failed", "platform": "aws"}
    reconcile(api.client, token, deployment_id, "engine", **failed)
    post(api.client, f"/v1/deployments/{deployment_id}/retry", token)
    assert reconcile(api.client, token, deployment_id, "engine", **failed)["retryRequested"]
    post(api.client, "/v1/sync/release", token, deploymentId=deployment_id, session="engine")
    [record] = acquire(api.client, token, "other")
    assert record["retry_requested"] is True
    assert not reconcile(api.client, token, deployment_id, "other", **failed)["retryRequested"]


def test_a_retry_of_a_deployment_no_longer_failed_lapses(api, leased):
    deployment_id, token = leased
    post(api.client, f"/v1/deployments/{deployment_id}/retry", token)
    current = reconcile(
        api.client, token, deployment_id, "engine", status="running", platform="aws"
    )
    assert not current["retryRequested"]
    current = reconcile(
        api.client, token, deployment_id, "engine", status="update-failed", platform="aws"
    )
    assert not current["retryRequested"]  # a later failure is not retried on the old request


@pytest.mark.parametrize("before", ["running", "pending", "update-failed"])
def test_only_a_deployment_asked_to_be_deleted_can_be_reported_deleted(api, leased, before):
    """A group's token cannot remove a deployment by reporting it deleted: DELETE is admin-only."""
    deployment_id, token = leased
    set_status(deployment_id, before)
    response = api.client.post(
        "/v1/sync/reconcile",
        json={"deploymentId": deployment_id, "session": "engine",
              "state": {"status": "deleted", "platform": "aws"}},
        headers=token,
    )  # fmt: skip
    assert_error(response, 400, "BAD_REQUEST")
    assert status(api, deployment_id) == before


@pytest.mark.parametrize("before", ["delete-pending", "deleting", "delete-failed"])
def test_a_redeploy_cannot_undo_a_deletion(api, leased, before):
    deployment_id, token = leased
    set_status(deployment_id, before)
    response = api.client.post(f"/v1/deployments/{deployment_id}/redeploy", headers=token)
    assert_error(response, 400, "BAD_REQUEST")
    assert status(api, deployment_id) == before


def test_a_deleted_deployment_whose_lease_goes_stale_is_removed_by_the_next_acquire(api, leased):
    deployment_id, token = leased
    api.client.delete(f"/v1/deployments/{deployment_id}", headers=api.admin)
    reconcile(api.client, token, deployment_id, "engine", status="deleted", platform="aws")
    assert acquire(api.client, api.admin, "other") == []
    assert status(api, deployment_id) == "deleted"  # its lease is live: kept
    clock.advance(TTL + 1)
    assert acquire(api.client, api.admin, "other") == []
    assert api.client.get(f"/v1/deployments/{deployment_id}", headers=api.admin).status_code == 404
    assert api.client.get("/v1/whoami", headers=token).status_code == 401


def test_a_pull_operator_without_a_lease_reports_deleted_then_releases(api):
    """Pull-mode operators never acquire: reporting `deleted` gives the reporting session the
    lease, so the deployment and its token stay until that session's `finally: release`."""
    deployment_id, token = api.deployment(api.group_token(api.group()), "d", "aws")
    api.client.delete(f"/v1/deployments/{deployment_id}", headers=api.admin)
    current = reconcile(
        api.client, token, deployment_id, "operator", status="deleted", platform="aws"
    )
    assert current["status"] == "deleted"
    assert status(api, deployment_id) == "deleted"
    post(api.client, "/v1/sync/release", token, deploymentId=deployment_id, session="operator")
    assert api.client.get(f"/v1/deployments/{deployment_id}", headers=api.admin).status_code == 404


def test_migration_6_gives_an_older_database_the_unseen_requests(database_url):
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        db.create_tables([SchemaMigration, *TABLES])
        for column in ("retry_unseen", "redeploy_unseen"):
            db.execute_sql(f'ALTER TABLE "deployment" DROP COLUMN "{column}"')
        for version, name, _ in MIGRATIONS[:3]:
            SchemaMigration.create(version=version, name=name, applied_at=clock.now())
        with pytest.raises(peewee.DatabaseError):
            with db.atomic():
                Deployment.select(Deployment.retry_unseen).first()
        assert migrate() == [version for version, _, _ in MIGRATIONS[3:]]
        assert migrate() == []
        assert Deployment.select(Deployment.redeploy_unseen).first() is None
