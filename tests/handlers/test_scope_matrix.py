"""docs/behaviour.md §2 for the deployments, releases and groups operations, as one table.

Callers: `admin`, `group` (DG token of the main group), `deployment` (token of the main group's
deployment), `sibling` (token of another deployment in the same group). Targets: `own` (the
main group's deployment / the main group), `foreign` (the other group's), `missing`.
"""

from __future__ import annotations

import pytest

from tests.docs import table
from tests.helpers import stack

# (operation, caller, target) -> expected status
GET_LIKE = {
    ("admin", "own"): 200, ("admin", "foreign"): 200, ("admin", "missing"): 404,
    ("group", "own"): 200, ("group", "foreign"): 403, ("group", "missing"): 404,
    ("deployment", "own"): 200, ("deployment", "foreign"): 403, ("deployment", "missing"): 404,
    ("sibling", "own"): 403,
}  # fmt: skip
MATRIX = [
    *[(op, caller, target, status) for op in ("get_deployment", "get_deployment_info", "redeploy", "retry_deployment")
      for (caller, target), status in GET_LIKE.items()],
    ("delete_deployment", "admin", "own", 202), ("delete_deployment", "admin", "foreign", 202),
    ("delete_deployment", "admin", "missing", 404), ("delete_deployment", "group", "own", 403),
    ("delete_deployment", "group", "missing", 403), ("delete_deployment", "deployment", "own", 403),
    ("list_deployments", "admin", None, 200), ("list_deployments", "admin", "own", 200),
    ("list_deployments", "group", None, 200), ("list_deployments", "group", "own", 200),
    ("list_deployments", "group", "foreign", 403), ("list_deployments", "deployment", None, 403),
    ("create_deployment", "admin", None, 201), ("create_deployment", "admin", "foreign", 201),
    ("create_deployment", "admin", "missing", 404), ("create_deployment", "group", None, 201),
    ("create_deployment", "group", "own", 201), ("create_deployment", "group", "foreign", 403),
    ("create_deployment", "deployment", None, 403),
    ("create_release", "admin", None, 201), ("create_release", "group", None, 403),
    ("create_release", "deployment", None, 403),
    ("get_release", "admin", "own", 200), ("get_release", "group", "own", 200),
    ("get_release", "deployment", "own", 200), ("get_release", "deployment", "missing", 404),
    ("get_latest_release", "admin", None, 200), ("get_latest_release", "group", None, 200),
    ("get_latest_release", "deployment", None, 200),
    ("list_deployment_groups", "admin", None, 200), ("list_deployment_groups", "group", None, 200),
    ("list_deployment_groups", "deployment", None, 200),
    ("get_deployment_group", "admin", "foreign", 200), ("get_deployment_group", "group", "own", 200),
    ("get_deployment_group", "group", "foreign", 403), ("get_deployment_group", "deployment", "own", 200),
    ("get_deployment_group", "deployment", "foreign", 403), ("get_deployment_group", "group", "missing", 404),
    ("create_deployment_group", "admin", None, 200), ("create_deployment_group", "group", None, 403),
    ("create_deployment_group", "deployment", None, 403),
    ("create_deployment_group_token", "admin", "own", 200), ("create_deployment_group_token", "admin", "missing", 404),
    ("create_deployment_group_token", "group", "own", 403), ("create_deployment_group_token", "deployment", "own", 403),
]  # fmt: skip


#: The reason of each 403 (message and `context.reason`), as the reference words it
#: (reference: crates/alien-manager/src/routes/auth.rs helpers and the checks in routes/*.rs);
#: keyed by operation, or by (operation, caller) where the caller decides.
ADMIN = "Admin access required"
GROUP = "Access denied: requires admin or matching deployment group token"
REASONS = {
    "get_deployment": "Access denied", "get_deployment_info": "Access denied",
    "redeploy": GROUP, "retry_deployment": GROUP, "list_deployments": GROUP,
    "create_deployment": GROUP, "get_deployment_group": GROUP,
    "delete_deployment": ADMIN, "create_release": ADMIN, "create_deployment_group": ADMIN,
    "create_deployment_group_token": ADMIN,
    ("list_deployments", "deployment"): "Deployment tokens cannot list deployments",
    ("create_deployment", "deployment"): "Deployment tokens cannot create deployments",
}  # fmt: skip


@pytest.fixture
def scene(world, api):
    sibling_id, sibling = api.deployment(world.group, "sibling")
    release_id = api.release(aws=stack())
    return {
        "callers": {"admin": world.admin, "group": world.group, "deployment": world.deployment, "sibling": sibling},
        "deployment": {"own": world.deployment_id, "foreign": world.other_deployment_id, "missing": "dep_missing"},
        "group": {"own": world.group_id, "foreign": world.other_group_id, "missing": "dg_missing", None: None},
        "release": {"own": release_id, "missing": "rel_missing"},
    }  # fmt: skip


def call(client, op, headers, scene, target):
    dep = scene["deployment"].get(target)
    grp = scene["group"].get(target)
    match op:
        case "get_deployment":
            return client.get(f"/v1/deployments/{dep}", headers=headers)
        case "get_deployment_info":
            return client.get(f"/v1/deployments/{dep}/info", headers=headers)
        case "redeploy":
            return client.post(f"/v1/deployments/{dep}/redeploy", headers=headers)
        case "retry_deployment":
            return client.post(f"/v1/deployments/{dep}/retry", headers=headers)
        case "delete_deployment":
            return client.delete(f"/v1/deployments/{dep}", headers=headers)
        case "list_deployments":
            params = {"deploymentGroupId": grp} if grp else {}
            return client.get("/v1/deployments", params=params, headers=headers)
        case "create_deployment":
            body = {"name": "new", "platform": "aws"} | ({"deploymentGroupId": grp} if grp else {})
            return client.post("/v1/deployments", json=body, headers=headers)
        case "create_release":
            return client.post("/v1/releases", json={"stack": {"aws": stack()}}, headers=headers)
        case "get_release":
            return client.get(f"/v1/releases/{scene['release'][target]}", headers=headers)
        case "get_latest_release":
            return client.get("/v1/releases/latest", headers=headers)
        case "list_deployment_groups":
            return client.get("/v1/deployment-groups", headers=headers)
        case "get_deployment_group":
            return client.get(f"/v1/deployment-groups/{grp}", headers=headers)
        case "create_deployment_group":
            return client.post("/v1/deployment-groups", json={"name": "n"}, headers=headers)
        case "create_deployment_group_token":
            return client.post(f"/v1/deployment-groups/{grp}/tokens", headers=headers)
    raise AssertionError(op)


@pytest.mark.parametrize(
    ("op", "caller", "target", "status"), MATRIX, ids=[f"{o}-{c}-{t}" for o, c, t, _ in MATRIX]
)
def test_scope(client, scene, op, caller, target, status):
    response = call(client, op, scene["callers"][caller], scene, target)
    assert response.status_code == status, response.text
    if status == 403:
        reason = REASONS.get((op, caller), REASONS[op])
        body = response.json()
        assert body["code"] == "FORBIDDEN" and body["message"] == reason
        assert body["context"] == {"reason": reason}


def test_messages_for_deployment_tokens(client, world):
    listing = client.get("/v1/deployments", headers=world.deployment).json()
    assert listing["message"] == "Deployment tokens cannot list deployments"
    created = client.post(
        "/v1/deployments", json={"name": "x", "platform": "aws"}, headers=world.deployment
    ).json()
    assert created["message"] == "Deployment tokens cannot create deployments"
    assert (
        client.delete(f"/v1/deployments/{world.deployment_id}", headers=world.group).json()[
            "message"
        ]
        == "Admin access required"
    )


@pytest.mark.parametrize("caller", ["group", "deployment"])
def test_tokens_list_only_their_own_group(client, scene, world, caller):
    items = client.get("/v1/deployment-groups", headers=scene["callers"][caller]).json()["items"]
    assert [g["id"] for g in items] == [world.group_id]


def test_group_token_lists_only_its_deployments(client, world):
    items = client.get("/v1/deployments", headers=world.group).json()["items"]
    assert {d["deploymentGroupId"] for d in items} == {world.group_id}
    assert world.other_deployment_id not in {d["id"] for d in items}


def test_admin_lists_everything(client, world):
    ids = {d["id"] for d in client.get("/v1/deployments", headers=world.admin).json()["items"]}
    assert {world.deployment_id, world.other_deployment_id} <= ids
    groups = {
        g["id"] for g in client.get("/v1/deployment-groups", headers=world.admin).json()["items"]
    }
    assert groups == {world.group_id, world.other_group_id}


COLUMN = {
    "admin": "admin",
    "group": "DG token",
    "deployment": "deployment token",
    "sibling": "deployment token",
}


def documented_statuses(cell: str, caller: str, target: str | None) -> range | tuple[int, ...]:
    """What docs/behaviour.md §2's table cell says a caller gets for a target."""
    ok = range(200, 300)
    if cell.startswith(("403", "400")):
        return (int(cell[:3]),)
    if target == "missing":
        return (404,)
    if target is None or cell.startswith(("yes", "any", "all")):
        return ok
    if cell.startswith("its group"):
        return ok if target == "own" else (403,)
    if cell.startswith("its deployment"):
        return ok if target == "own" and caller != "sibling" else (403,)
    raise AssertionError(f"unreadable cell {cell!r}")


def test_the_behaviour_reference_states_this_matrix():
    """Every row of MATRIX is what the reference's scope table says, and every operation of
    the table that MATRIX covers is covered for every kind of caller."""
    cells = {
        op.strip(): row for row in table("2.", "operation") for op in row["operation"].split(",")
    }
    for op, caller, target, status in MATRIX:
        cell = cells[op][COLUMN[caller]]
        assert status in documented_statuses(cell, caller, target), (op, caller, target, cell)
    covered = {op for op, *_ in MATRIX}
    for op in covered:
        assert {caller for o, caller, *_ in MATRIX if o == op} >= {
            "admin",
            "group",
            "deployment",
        }, op
