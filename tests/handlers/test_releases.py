"""Releases (docs/behaviour.md §5.3) and their propagation to deployments (§6)."""

from __future__ import annotations

import pytest

from models.db import db
from models.deployments import STATUSES, Deployment
from tests.helpers import resource, stack


def test_every_platform_stack_is_stored_and_returned_as_sent(client, api):
    stacks = {
        "aws": stack("a", fn=resource("fn")),
        "gcp": stack("g"),
        "local": stack("l", x={**resource("x"), "remoteAccess": True}),
        "azure": None,
    }
    response = client.post("/v1/releases", json={"stack": stacks}, headers=api.admin)
    assert response.status_code == 201
    created = response.json()
    expected = {k: v for k, v in stacks.items() if v is not None}
    assert created["stack"] == expected
    assert created["id"].startswith("rel_")
    assert "gitMetadata" not in created
    assert api.get(f"/v1/releases/{created['id']}")["stack"] == expected
    assert api.get("/v1/releases/latest") == created


def test_latest_is_the_newest(client, api):
    api.release(aws=stack("one"))
    newest = api.release(gcp=stack("two"))
    assert api.get("/v1/releases/latest")["id"] == newest


@pytest.mark.parametrize(
    ("git", "expected"),
    [
        ({"commitSha": "abc", "commitRef": None}, {"commitSha": "abc"}),
        (
            {"commitSha": "abc", "commitRef": "main", "commitMessage": "m"},
            {"commitSha": "abc", "commitRef": "main", "commitMessage": "m"},
        ),
        ({"commitSha": None}, None),
        ({}, None),
        (None, None),
    ],
)
def test_git_metadata_appears_only_when_set(client, api, git, expected):
    body = {"stack": {"aws": stack()}} | (
        {"gitMetadata": git} if git is not None else {"gitMetadata": None}
    )
    created = client.post("/v1/releases", json=body, headers=api.admin).json()
    for release in (created, api.get(f"/v1/releases/{created['id']}")):
        assert release.get("gitMetadata") == expected


@pytest.mark.parametrize("stacks", [{}, {"aws": None}, {"aws": None, "gcp": None}])
def test_no_platform_stack(client, admin, stacks):
    response = client.post("/v1/releases", json={"stack": stacks}, headers=admin)
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert response.json()["message"] == "No platform stack provided"


@pytest.mark.parametrize(
    "bad",
    [
        {"resources": {}},
        {"id": "s", "resources": {}, "extra": 1},
        {
            "id": "s",
            "resources": {"r": {"config": {"id": "r"}, "lifecycle": "live", "dependencies": []}},
        },
        {"id": "s", "resources": {"r": {**resource("r"), "lifecycle": "forever"}}},
        "a string",
    ],
    ids=["no id", "unknown key", "resource without type", "bad lifecycle", "not an object"],
)
def test_stack_is_validated_against_the_specs_own_schema(client, admin, bad):
    response = client.post(
        "/v1/releases", json={"stack": {"aws": stack(), "gcp": bad}}, headers=admin
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "BAD_REQUEST"
    assert body["message"].startswith("Invalid stack format: ")
    # reference: crates/alien-manager/src/error.rs: BadRequest { reason }; the platform is ours
    assert body["context"] == {"reason": body["message"], "platform": "gcp"}
    assert client.get("/v1/releases/latest", headers=admin).status_code == 404


def test_nullable_fields_inside_a_stack_accept_null(client, admin):
    permissive = stack() | {"permissions": {"profiles": {}, "management": "auto"}}
    assert (
        client.post("/v1/releases", json={"stack": {"aws": permissive}}, headers=admin).status_code
        == 201
    )


# -- §6: what a new release does to each deployment ------------------------------------------

FAILED_RETRYABLE = [s for s in STATUSES if s.endswith("-failed") and s != "delete-failed"]
PROPAGATION = [
    ("pending", "new", "pending", False),
    ("update-pending", "new", "update-pending", False),
    ("running", "new", "update-pending", False),
    *[(s, "new", s, True) for s in FAILED_RETRYABLE],
    ("initial-setup", "old", "initial-setup", False),
    ("provisioning", "old", "provisioning", False),
    ("updating", "old", "updating", False),
    ("delete-pending", "old", "delete-pending", False),
    ("deleting", "old", "deleting", False),
    ("delete-failed", "old", "delete-failed", False),
    ("deleted", "old", "deleted", False),
]


def test_the_table_covers_every_status():
    assert sorted(row[0] for row in PROPAGATION) == sorted(STATUSES)


@pytest.mark.parametrize(
    ("status", "desired", "after", "retry"), PROPAGATION, ids=[r[0] for r in PROPAGATION]
)
def test_propagation(client, api, world, status, desired, after, retry):
    old = api.release(aws=stack("old"))
    with db.connection_context():
        Deployment.update(status=status, desired_release_id=old, retry_requested=False).where(
            Deployment.id == world.deployment_id
        ).execute()
    new = api.release(aws=stack("new"))
    d = api.get(f"/v1/deployments/{world.deployment_id}")
    assert d["desiredReleaseId"] == {"new": new, "old": old}[desired]
    assert d["status"] == after
    assert d["retryRequested"] is retry


def test_a_release_without_the_deployments_platform_leaves_it_alone(client, api, world):
    with db.connection_context():
        Deployment.update(status="running").where(Deployment.id == world.deployment_id).execute()
    api.release(gcp=stack(), local=stack())
    d = api.get(f"/v1/deployments/{world.deployment_id}")
    assert d["status"] == "running" and "desiredReleaseId" not in d


def test_propagation_reaches_every_group(client, api, world):
    release = api.release(aws=stack())
    for deployment_id in (world.deployment_id, world.other_deployment_id):
        assert api.get(f"/v1/deployments/{deployment_id}")["desiredReleaseId"] == release
