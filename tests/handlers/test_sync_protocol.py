"""The sync protocol end to end (docs/behaviour.md §7), as the two kinds of client use it.

A push-mode worker leases deployments (acquire), reports every step of its deployment engine
(reconcile) and gives the lease back (release). A pull-mode operator runs inside the target
environment: it registers itself (initialize), asks what to deploy (sync) and reports
(reconcile) without ever taking a lease.
"""

from __future__ import annotations

import re

import pytest

from tests.helpers import acquire, bearer, post, reconcile, resource, stack

APP = stack("app", fn=resource("fn"))
#: APP as operator_sync hands it out: with the reference's Stack defaults (§10).
APP_SYNCED = {
    "id": "app",
    "resources": {"fn": resource("fn") | {"remoteAccess": False}},
    "permissions": {"profiles": {}, "management": "auto"},
}
ENV = {"platform": "aws", "accountId": "123456789012", "region": "eu-west-1"}


def test_push_mode_worker_walks_a_deployment_to_running(client, api, admin):
    release_id = api.release(aws=APP)
    group = api.group_token(api.group("prod"))
    deployment_id, _ = api.deployment(group, "acme", "aws")

    # 1. The worker leases work under its own session name. What it gets is the stored row.
    [record] = acquire(client, group, "worker-1")
    assert record["id"] == deployment_id
    assert record["status"] == "pending"
    assert record["desired_release_id"] == release_id  # what to deploy
    assert record["locked_by"] == "worker-1"
    assert record["locked_at"].endswith("Z")

    # While it holds the lease, no other worker gets this deployment.
    assert acquire(client, group, "worker-2") == []

    # 2. It reports each step its deployment engine takes. `current` is the state as stored,
    #    with the release still to deploy as `targetRelease`.
    for step in ("initial-setup", "provisioning"):
        current = reconcile(client, group, deployment_id, "worker-1", status=step, platform="aws")
        assert current["status"] == step
        assert current["targetRelease"] == {"releaseId": release_id, "stack": APP_SYNCED}

    # Done: the release it deployed becomes current, and nothing is left to deploy.
    deployed = {"releaseId": release_id, "stack": APP}
    current = reconcile(
        client,
        group,
        deployment_id,
        "worker-1",
        status="running",
        platform="aws",
        currentRelease=deployed,
        environmentInfo=ENV,
    )
    assert current == {
        "status": "running",
        "platform": "aws",
        "currentRelease": {"releaseId": release_id, "stack": APP_SYNCED},
        "environmentInfo": ENV,
        "retryRequested": False,
    }

    # 3. It gives the lease back (a real worker does so in `finally`).
    assert post(client, "/v1/sync/release", group, deploymentId=deployment_id, session="worker-1")

    # A running deployment has no work: nobody acquires it until something changes.
    assert acquire(client, group, "worker-2") == []
    shown = api.get(f"/v1/deployments/{deployment_id}")
    assert shown["status"] == "running"
    assert shown["currentReleaseId"] == release_id
    assert "desiredReleaseId" not in shown
    assert shown["environmentInfo"] == ENV


def test_pull_mode_operator_initializes_syncs_and_reports(client, api):
    first = api.release(kubernetes=APP)
    group = api.group_token(api.group("edge"))

    # 1. The operator registers itself with a deployment-group token and keeps the token.
    response = client.post("/v1/initialize", json={"name": "cluster-a"}, headers=group)
    assert response.status_code == 201, response.text
    deployment_id, operator = response.json()["deploymentId"], bearer(response.json()["token"])

    # 2. It asks what to deploy: the release and the deployment's settings.
    target = post(client, "/v1/sync", operator, deploymentId=deployment_id)["target"]
    assert target == {
        "releaseInfo": {"releaseId": first, "stack": APP_SYNCED},
        "config": {"deploymentModel": "pull"},
    }

    # 3. It deploys and reports, without ever acquiring a lease.
    deployed = target["releaseInfo"]
    current = reconcile(
        client,
        operator,
        deployment_id,
        "operator-cluster-a",
        status="running",
        platform="kubernetes",
        currentRelease=deployed,
    )
    assert current["currentRelease"] == deployed and "targetRelease" not in current

    # In sync: nothing to do.
    assert post(client, "/v1/sync", operator, deploymentId=deployment_id) == {}

    # A new release gives it a target again.
    second = api.release(kubernetes=stack("app-v2"))
    target = post(client, "/v1/sync", operator, deploymentId=deployment_id)["target"]
    assert target["releaseInfo"] == {
        "releaseId": second,
        "stack": stack("app-v2") | {"permissions": {"profiles": {}, "management": "auto"}},
    }


PROFILE = {"*": ["storage/data-read"]}
EXTEND = {"extend": {"*": ["queue/data-write"]}}


@pytest.mark.parametrize(
    ("sent", "synced"),
    [
        (stack("s"), stack("s") | {"permissions": {"profiles": {}, "management": "auto"}}),
        (
            stack("s") | {"permissions": {"profiles": {"worker": PROFILE}}},
            stack("s") | {"permissions": {"profiles": {"worker": PROFILE}, "management": "auto"}},
        ),
        (
            stack("s") | {"permissions": {"profiles": {}, "management": EXTEND}},
            stack("s") | {"permissions": {"profiles": {}, "management": EXTEND}},
        ),
        (
            stack("s", a=resource("a"), b=resource("b") | {"remoteAccess": True}),
            stack("s", a=resource("a") | {"remoteAccess": False},
                  b=resource("b") | {"remoteAccess": True})
            | {"permissions": {"profiles": {}, "management": "auto"}},
        ),
    ],
    ids=["bare", "profiles only", "management given", "remote access"],
)  # fmt: skip
def test_operator_sync_stack_carries_the_reference_defaults(client, api, sent, synced):
    """reference: crates/alien-manager/src/routes/sync.rs: operator_sync returns
    `serde_json::to_value(&r.stack)` of the typed alien_core::Stack, which fills
    `permissions` (stack.rs `#[serde(default)]`: PermissionsConfig::new(), no profiles,
    management Auto), `management` (permissions.rs `#[serde(default)]`) and each entry's
    `remoteAccess` (stack.rs `#[serde(default)]`, false). The release itself keeps what was
    sent."""
    group = api.group_token(api.group())
    response = client.post("/v1/initialize", json={"platform": "local"}, headers=group)
    deployment_id, operator = response.json()["deploymentId"], bearer(response.json()["token"])
    release_id = api.release(local=sent)
    target = post(client, "/v1/sync", operator, deploymentId=deployment_id)["target"]
    assert target["releaseInfo"] == {"releaseId": release_id, "stack": synced}
    assert api.get(f"/v1/releases/{release_id}")["stack"] == {"local": sent}


# -- acquire ------------------------------------------------------------------------------------

RECORD_KEYS = [
    "id", "name", "deployment_group_id", "platform", "status", "stack_settings", "stack_state",
    "environment_info", "runtime_metadata", "current_release_id", "desired_release_id",
    "user_environment_variables", "retry_requested", "locked_by", "locked_at", "created_at",
    "updated_at", "error",
]  # fmt: skip
Z_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_acquire_returns_the_raw_record_with_explicit_nulls(client, api, admin):
    group_id = api.group()
    deployment_id, _ = api.deployment(api.group_token(group_id), "raw", "gcp")
    [record] = acquire(client, admin, "s")
    assert sorted(record) == sorted(RECORD_KEYS)
    assert record | {"created_at": None, "locked_at": None} == {
        "id": deployment_id,
        "name": "raw",
        "deployment_group_id": group_id,
        "platform": "gcp",
        "status": "pending",
        "stack_settings": {},
        "stack_state": None,
        "environment_info": None,
        "runtime_metadata": None,
        "current_release_id": None,
        "desired_release_id": None,
        "user_environment_variables": None,
        "retry_requested": False,
        "locked_by": "s",
        "locked_at": None,
        "created_at": None,
        "updated_at": None,
        "error": None,
    }
    assert Z_TIME.match(record["created_at"]) and Z_TIME.match(record["locked_at"])


def test_acquire_hands_out_oldest_first_up_to_the_limit(client, api, admin):
    group = api.group_token(api.group())
    ids = [api.deployment(group, f"d{n}")[0] for n in range(12)]
    assert [r["id"] for r in acquire(client, admin, "a")] == ids[:10]  # default limit 10
    assert [r["id"] for r in acquire(client, admin, "b", limit=1)] == ids[10:11]
    assert acquire(client, admin, "c", limit=0) == []
    assert [r["id"] for r in acquire(client, admin, "c", limit=5)] == ids[11:]


@pytest.mark.parametrize(
    "filters, expected",
    [
        ({"deploymentIds": ["second", "third"]}, ["second", "third"]),
        ({"deploymentIds": []}, []),
        ({"deploymentIds": ["dep_unknown"]}, []),
        ({"platforms": ["gcp"]}, ["second"]),
        ({"platforms": ["gcp", "azure"]}, ["second", "third"]),
        ({"platforms": []}, []),
        ({"statuses": ["provisioning"]}, ["third"]),
        ({"statuses": []}, []),
        ({"platforms": ["aws", "gcp"], "statuses": ["pending"]}, ["first", "second"]),
        (
            {"deploymentIds": None, "platforms": None, "statuses": None},
            ["first", "second", "third"],
        ),
    ],
)
def test_acquire_filters_narrow_the_candidates(client, api, admin, filters, expected):
    group = api.group_token(api.group())
    ids = {
        name: api.deployment(group, name, platform)[0]
        for name, platform in (("first", "aws"), ("second", "gcp"), ("third", "azure"))
    }
    reconcile(client, admin, ids["third"], "setup", status="provisioning", platform="azure")
    if filters.get("deploymentIds"):
        filters["deploymentIds"] = [ids.get(name, name) for name in filters["deploymentIds"]]
    assert [r["name"] for r in acquire(client, admin, "w", **filters)] == expected


#: §7.1 candidates. `deleted` never stays stored (test_sync_reconcile: removal).
CANDIDATES = [
    # status                 acquirable?  (retryRequested false, true)
    ("pending",              True,  True),
    ("initial-setup",        True,  True),
    ("initial-setup-failed", False, True),
    ("provisioning",         True,  True),
    ("provisioning-failed",  False, True),
    ("running",              False, False),
    ("refresh-failed",       False, True),
    ("update-pending",       True,  True),
    ("updating",             True,  True),
    ("update-failed",        False, True),
    ("delete-pending",       True,  True),
    ("deleting",             True,  True),
    ("delete-failed",        False, True),
]  # fmt: skip


@pytest.mark.parametrize(
    "status, retry, acquirable",
    [(status, False, plain) for status, plain, _ in CANDIDATES]
    + [(status, True, retried) for status, _, retried in CANDIDATES],
)
def test_which_deployments_are_candidates(client, api, admin, status, retry, acquirable):
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    reconcile(client, admin, deployment_id, "engine", status=status, platform="aws")
    if retry:
        response = client.post(f"/v1/deployments/{deployment_id}/retry", headers=admin)
        assert response.status_code == 200
    assert [r["id"] for r in acquire(client, admin, "worker")] == (
        [deployment_id] if acquirable else []
    )
