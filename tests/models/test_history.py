"""A deployment's status history (docs/behaviour.md §6.1): every change, written by the
transaction that makes it, with who caused it; the newest 50 kept; migration 5.

Arranged through the API, read through the model. On SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from typing import Any

from models import clock
from models.db import bind_database, db
from models.engines import make_database
from models.history import KEEP, StatusChange
from models.schema import MIGRATIONS, TABLES, SchemaMigration, migrate
from tests.helpers import reconcile, stack


def changes(deployment_id: str) -> list[tuple[Any, ...]]:
    """(from, to, session, call, caller), oldest first."""
    with db.connection_context():
        rows = StatusChange.recent(deployment_id)
    return [(r.from_status, r.to_status, r.session, r.call, r.caller) for r in reversed(rows)]


def test_each_change_is_written_with_who_caused_it(client, api, admin):
    group = api.group_token(api.group())
    deployment_id, _ = api.deployment(group, "d", "aws")
    reconcile(client, admin, deployment_id, "w1", status="provisioning", platform="aws")
    reconcile(client, admin, deployment_id, "w1", status="provisioning", platform="aws")  # same
    reconcile(client, admin, deployment_id, "w1", status="running", platform="aws")
    api.release(aws=stack("b"))  # §6: a running deployment becomes update-pending
    assert client.post(f"/v1/deployments/{deployment_id}/redeploy", headers=group).is_success
    assert client.delete(f"/v1/deployments/{deployment_id}", headers=admin).status_code == 202
    assert changes(deployment_id) == [
        (None, "pending", None, "create_deployment", "deployment-group"),
        ("pending", "provisioning", "w1", None, None),
        ("provisioning", "running", "w1", None, None),
        ("running", "update-pending", None, "create_release", "admin"),
        # redeploy of an update-pending deployment changes nothing: no entry
        ("update-pending", "delete-pending", None, "delete_deployment", "admin"),
    ]


def test_a_running_report_behind_a_newer_release_is_two_changes(client, api, admin):
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    first = api.release(aws=stack("a"))
    api.release(aws=stack("b"))
    running = {"releaseId": first, "stack": stack("a")}
    reconcile(client, admin, deployment_id, "w", status="running", platform="aws",
              currentRelease=running)  # fmt: skip
    assert changes(deployment_id)[-2:] == [
        ("pending", "running", "w", None, None),
        ("running", "update-pending", "w", None, None),
    ]


def test_only_the_newest_are_kept(client, api, admin):
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    statuses = ["provisioning", "initial-setup"] * (KEEP // 2 + 3)
    for status in statuses:
        reconcile(client, admin, deployment_id, "w", status=status, platform="aws")
    kept = changes(deployment_id)
    assert len(kept) == KEEP
    assert [to for _, to, *_ in kept] == statuses[-KEEP:]


def test_the_history_goes_with_its_deployment(client, api, admin):
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    assert client.delete(f"/v1/deployments/{deployment_id}", headers=admin).status_code == 202
    reconcile(client, admin, deployment_id, "w", status="deleted", platform="aws")
    assert changes(deployment_id)[-1][:2] == ("delete-pending", "deleted")  # kept until released
    released = {"deploymentId": deployment_id, "session": "w"}
    assert client.post("/v1/sync/release", json=released, headers=admin).is_success
    assert changes(deployment_id) == []


def test_migration_5_adds_the_history_to_an_existing_database(database_url):
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        db.create_tables([SchemaMigration, *[t for t in TABLES if t is not StatusChange]])
        for version, name, _ in MIGRATIONS:
            if version < 5:
                SchemaMigration.create(version=version, name=name, applied_at=clock.now())
        assert not StatusChange.table_exists()
        assert migrate() == [version for version, _, _ in MIGRATIONS if version >= 5]
        assert StatusChange.table_exists() and StatusChange.select().count() == 0
        assert migrate() == []
