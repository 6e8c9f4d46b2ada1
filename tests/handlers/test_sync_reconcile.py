"""Reconcile, release, operator sync and initialize: the rules of docs/behaviour.md §7.2–§7.5."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import acquire, bearer, post, reconcile, stack


def synced(stack_id: str) -> dict[str, Any]:
    """A resource-less stack as the sync protocol hands it out (Stack defaults, §10)."""
    return stack(stack_id) | {"permissions": {"profiles": {}, "management": "auto"}}


FAILURE = {"code": "QUOTA", "message": "quota exceeded", "retryable": False, "internal": False}


def stack_state(**errors: Any) -> dict[str, Any]:
    """A spec-valid StackState with one resource per keyword; a non-None value is its error."""
    resources = {}
    for rid, error in errors.items():
        config = {"id": rid, "type": "function"}
        resources[rid] = {"type": "function", "status": "provision-failed", "config": config}
        if error is not None:
            resources[rid]["error"] = error
    return {"platform": "aws", "resourcePrefix": "p", "resources": resources}


def reconcile_response(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/sync/reconcile", json=body, headers=headers)


@pytest.fixture
def deployment(api: Any) -> str:
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    return str(deployment_id)


# -- reconcile ----------------------------------------------------------------------------------


def test_reconcile_maps_the_state_onto_the_deployment(client, api, admin, deployment):
    runtime = {"lastSyncedEnvVarsHash": "abc"}
    current = reconcile(
        client,
        admin,
        deployment,
        "s",
        status="provisioning",
        platform="aws",
        stackState=stack_state(fn=None),
        runtimeMetadata=runtime,
    )
    assert current["runtimeMetadata"] == runtime
    assert current["stackState"] == stack_state(fn=None)
    shown = api.get(f"/v1/deployments/{deployment}")
    assert shown["status"] == "provisioning"
    assert shown["stackState"] == stack_state(fn=None)
    assert "updatedAt" in shown and "error" not in shown

    # Absent fields clear what was stored; the retry flag is consumed.
    client.post(f"/v1/deployments/{deployment}/retry", headers=admin)
    current = reconcile(client, admin, deployment, "s", status="running", platform="aws")
    assert current == {"status": "running", "platform": "aws", "retryRequested": False}
    shown = api.get(f"/v1/deployments/{deployment}")
    assert "stackState" not in shown and "currentReleaseId" not in shown
    assert shown["retryRequested"] is False


@pytest.mark.parametrize(
    "status, errors, expected",
    [
        ("provisioning-failed", {"ok": None, "bad": FAILURE}, FAILURE),
        ("update-failed", {"bad": FAILURE, "worse": FAILURE | {"code": "OTHER"}}, FAILURE),
        ("provisioning-failed", {"ok": None}, None),
        ("provisioning", {"bad": FAILURE}, None),  # not failed: no error, whatever resources say
    ],
)
def test_error_is_the_first_resource_error_of_a_failed_state(
    client, api, admin, deployment, status, errors, expected
):
    reconcile(
        client,
        admin,
        deployment,
        "s",
        status=status,
        platform="aws",
        stackState=stack_state(**errors),
    )
    assert api.get(f"/v1/deployments/{deployment}").get("error") == expected


def test_reconcile_of_an_unknown_deployment_is_404(client, admin):
    response = reconcile_response(
        client,
        admin,
        deploymentId="dep_nope",
        session="s",
        state={"status": "running", "platform": "aws"},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "DEPLOYMENT_NOT_FOUND"


def test_reconcile_with_the_wrong_platform_is_400(client, api, admin, deployment):
    response = reconcile_response(
        client,
        admin,
        deploymentId=deployment,
        session="s",
        state={"status": "running", "platform": "gcp"},
    )
    assert response.status_code == 400 and response.json()["code"] == "BAD_REQUEST"
    assert api.get(f"/v1/deployments/{deployment}")["status"] == "pending"


def test_reconcile_against_another_sessions_live_lock_is_409(client, api, admin, deployment):
    acquire(client, admin, "holder")
    response = reconcile_response(
        client,
        admin,
        deploymentId=deployment,
        session="intruder",
        state={"status": "running", "platform": "aws"},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "DEPLOYMENT_LOCKED"
    assert response.json()["retryable"] is True
    assert api.get(f"/v1/deployments/{deployment}")["status"] == "pending"
    # The holder itself may report, and so may anyone once it lets go.
    reconcile(client, admin, deployment, "holder", status="initial-setup", platform="aws")
    post(client, "/v1/sync/release", admin, deploymentId=deployment, session="holder")
    reconcile(client, admin, deployment, "intruder", status="provisioning", platform="aws")


def test_reaching_the_desired_release_clears_it(client, api, admin):
    release_id = api.release(aws=stack("a"))
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    info = {"releaseId": release_id, "stack": synced("a")}
    current = reconcile(client, admin, deployment_id, "s", status="updating", platform="aws")
    assert current["targetRelease"] == info
    current = reconcile(
        client, admin, deployment_id, "s", status="running", platform="aws", currentRelease=info
    )
    assert current["currentRelease"] == info and "targetRelease" not in current
    assert "desiredReleaseId" not in api.get(f"/v1/deployments/{deployment_id}")


def test_a_release_created_during_an_update_is_picked_up_when_it_ends(client, api, admin):
    a = api.release(aws=stack("a"))
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    [record] = acquire(client, admin, "worker")
    assert record["desired_release_id"] == a
    reconcile(client, admin, deployment_id, "worker", status="updating", platform="aws")

    b = api.release(aws=stack("b"))  # §6: an update in progress is left alone...
    assert api.get(f"/v1/deployments/{deployment_id}")["desiredReleaseId"] == a

    current = reconcile(
        client,
        admin,
        deployment_id,
        "worker",
        status="running",
        platform="aws",
        currentRelease={"releaseId": a, "stack": stack("a")},
    )
    # ...and picked up once it ends: A is current, B is the next target.
    assert current["status"] == "update-pending"
    assert current["currentRelease"] == {"releaseId": a, "stack": synced("a")}
    assert current["targetRelease"] == {"releaseId": b, "stack": synced("b")}
    shown = api.get(f"/v1/deployments/{deployment_id}")
    assert (shown["status"], shown["currentReleaseId"], shown["desiredReleaseId"]) == (
        "update-pending",
        a,
        b,
    )


def test_update_detection_looks_only_at_newer_releases_for_the_platform(client, api, admin):
    a = api.release(aws=stack("a"))
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    reconcile(client, admin, deployment_id, "s", status="updating", platform="aws")
    api.release(gcp=stack("other-platform"))
    current = reconcile(
        client,
        admin,
        deployment_id,
        "s",
        status="running",
        platform="aws",
        currentRelease={"releaseId": a, "stack": stack("a")},
    )
    assert current["status"] == "running" and "targetRelease" not in current


def test_an_unknown_current_release_is_kept_as_reported(client, api, admin, deployment):
    elsewhere = {"releaseId": "rel_made_elsewhere", "stack": stack("x"), "version": None}
    current = reconcile(
        client, admin, deployment, "s", status="running", platform="aws", currentRelease=elsewhere
    )
    assert current["currentRelease"] == {"releaseId": "rel_made_elsewhere", "stack": stack("x")}
    assert current["status"] == "running"


def test_deleted_completes_the_deletion_when_the_lease_is_released(client, api, admin):
    """As the reference (crates/alien-manager/src/routes/sync.rs, reconcile stores the status):
    a deployment reported `deleted` stays visible as `deleted`, with its tokens, so the pull
    operator's `finally: release` with its own token succeeds; the release removes it."""
    group_id = api.group()
    deployment_id, token = api.deployment(api.group_token(group_id), "doomed", "aws")
    assert client.delete(f"/v1/deployments/{deployment_id}", headers=admin).status_code == 202
    assert api.get(f"/v1/deployment-groups/{group_id}")["deploymentCount"] == 1

    [record] = acquire(client, token, "reaper")
    assert record["status"] == "delete-pending"
    reconcile(client, token, deployment_id, "reaper", status="deleting", platform="aws")
    current = reconcile(client, token, deployment_id, "reaper", status="deleted", platform="aws")
    assert current["status"] == "deleted"
    assert api.get(f"/v1/deployments/{deployment_id}")["status"] == "deleted"
    assert client.get("/v1/whoami", headers=token).status_code == 200

    post(client, "/v1/sync/release", token, deploymentId=deployment_id, session="reaper")
    assert client.get(f"/v1/deployments/{deployment_id}", headers=admin).status_code == 404
    assert api.get(f"/v1/deployment-groups/{group_id}")["deploymentCount"] == 0
    assert client.get("/v1/whoami", headers=token).status_code == 401  # its token is revoked
    post(client, "/v1/sync/release", admin, deploymentId=deployment_id, session="reaper")


# -- release ------------------------------------------------------------------------------------


def test_release_is_idempotent_and_only_lets_go_of_its_own_lease(client, admin, deployment):
    acquire(client, admin, "holder")
    post(client, "/v1/sync/release", admin, deploymentId=deployment, session="someone-else")
    assert acquire(client, admin, "other") == []  # still held
    for _ in range(2):
        post(client, "/v1/sync/release", admin, deploymentId=deployment, session="holder")
    assert [r["id"] for r in acquire(client, admin, "other")] == [deployment]
    post(client, "/v1/sync/release", admin, deploymentId="dep_never_existed", session="holder")


# -- operator sync ------------------------------------------------------------------------------


def test_operator_sync_is_read_only_and_empty_without_a_target(client, api, admin, deployment):
    assert post(client, "/v1/sync", admin, deploymentId=deployment) == {}
    release_id = api.release(aws=stack("a"))
    before = api.get(f"/v1/deployments/{deployment}")
    target = post(client, "/v1/sync", admin, deploymentId=deployment)["target"]
    assert target == {"releaseInfo": {"releaseId": release_id, "stack": synced("a")}, "config": {}}
    assert api.get(f"/v1/deployments/{deployment}") == before
    assert acquire(client, admin, "w")[0]["locked_by"] == "w"  # sync took no lease


def test_operator_sync_of_an_unknown_deployment_is_404(client, admin):
    response = client.post("/v1/sync", json={"deploymentId": "dep_nope"}, headers=admin)
    assert response.status_code == 404 and response.json()["code"] == "DEPLOYMENT_NOT_FOUND"


# -- initialize ---------------------------------------------------------------------------------


def initialize(client: Any, headers: dict[str, str], **body: Any) -> Any:
    return client.post("/v1/initialize", json=body, headers=headers)


def test_initialize_registers_a_pull_mode_deployment(client, api):
    release_id = api.release(kubernetes=stack("k"))
    group_id = api.group()
    response = initialize(client, api.group_token(group_id))
    assert response.status_code == 201
    deployment_id, token = response.json()["deploymentId"], response.json()["token"]
    assert token.startswith("ax_deploy_")
    shown = api.get(f"/v1/deployments/{deployment_id}")
    assert re.fullmatch(r"operator-[A-Za-z0-9]{6}", shown["name"])
    assert shown["platform"] == "kubernetes" and shown["status"] == "pending"
    assert shown["stackSettings"] == {"deploymentModel": "pull"}
    assert shown["desiredReleaseId"] == release_id
    assert shown["deploymentGroupId"] == group_id
    whoami = api.get("/v1/whoami", bearer(token))
    assert whoami["scope"] == {"type": "deployment", "deploymentId": deployment_id}


def test_initialize_by_an_existing_name_finds_it_again(client, api):
    group_id = api.group()
    group = api.group_token(group_id)
    first = initialize(client, group, name="cluster-a", platform="aws")
    again = initialize(client, group, name="cluster-a", platform=None)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["deploymentId"] == first.json()["deploymentId"]
    assert again.json()["token"] != first.json()["token"]
    assert (
        api.get("/v1/whoami", bearer(again.json()["token"]))["id"] == first.json()["deploymentId"]
    )
    assert api.get(f"/v1/deployment-groups/{group_id}")["deploymentCount"] == 1
    shown = api.get(f"/v1/deployments/{first.json()['deploymentId']}")
    assert (shown["name"], shown["platform"]) == ("cluster-a", "aws")


def test_initialize_respects_the_group_limit(client, api):
    group = api.group_token(api.group(max_deployments=1))
    assert initialize(client, group, name="one").status_code == 201
    response = initialize(client, group, name="two")
    assert response.status_code == 400 and response.json()["code"] == "MAX_DEPLOYMENTS_REACHED"
    assert initialize(client, group, name="one").status_code == 200  # re-initialize still works


def test_initialize_with_a_deployment_token_names_its_deployment(client, api):
    deployment_id, token = api.deployment(api.group_token(api.group()), "d", "aws")
    response = initialize(client, token, name="ignored")
    assert response.status_code == 200 and response.json() == {"deploymentId": deployment_id}


def test_initialize_as_admin_is_400(client, admin):
    response = initialize(client, admin)
    assert response.status_code == 400
    assert response.json()["code"] == "BAD_REQUEST"
    assert (
        response.json()["message"] == "Initialize requires a deployment or deployment group token"
    )
