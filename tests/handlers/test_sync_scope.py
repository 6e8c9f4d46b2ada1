"""Who may call the sync and credentials operations on what (docs/behaviour.md §2), as one table.

The target is deployment `mine` in group `main`. Callers: an admin; the DG token of `main`;
the DG token of another group; `mine`'s own deployment token; and the token of `sibling`, a
deployment in the same group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import bearer

CALLERS = ("admin", "group", "other_group", "own_deployment", "sibling_deployment")


@dataclass
class Scene:
    callers: dict[str, dict[str, str]]
    mine: str
    sibling: str


@pytest.fixture
def scene(api: Any, admin: dict[str, str]) -> Scene:
    main = api.group_token(api.group("main"))
    mine, own = api.deployment(main, "mine", "local")
    sibling, sibling_token = api.deployment(main, "sibling", "local")
    other = api.group_token(api.group("other"))
    api.deployment(other, "theirs", "local")
    callers = {
        "admin": admin,
        "group": main,
        "other_group": other,
        "own_deployment": own,
        "sibling_deployment": sibling_token,
    }
    return Scene(callers, mine, sibling)


def call(client: Any, operation: str, headers: dict[str, str], mine: str) -> Any:
    state = {"status": "provisioning", "platform": "local"}
    path, body = {
        "acquire": ("/v1/sync/acquire", {"session": "s", "deploymentIds": [mine]}),
        "reconcile": ("/v1/sync/reconcile", {"deploymentId": mine, "session": "s", "state": state}),
        "release": ("/v1/sync/release", {"deploymentId": mine, "session": "s"}),
        "operator_sync": ("/v1/sync", {"deploymentId": mine}),
        "resolve_credentials": ("/v1/resolve-credentials", {"deploymentId": mine}),
    }[operation]
    return client.post(path, json=body, headers=headers)


ANY_GROUP = "Access denied: requires admin or deployment group token"
MATCHING_GROUP = "Access denied: requires admin or matching deployment group token"

# Expected status per caller, in CALLERS order.
MATRIX = {
    "reconcile":           (200, 200, 403, 200, 403),
    "release":             (200, 200, 403, 200, 403),
    "operator_sync":       (200, 200, 403, 200, 403),
    "resolve_credentials": (200, 200, 403, 403, 403),
}  # fmt: skip


@pytest.mark.parametrize(
    "operation, caller, expected",
    [(op, caller, row[i]) for op, row in MATRIX.items() for i, caller in enumerate(CALLERS)],
)
def test_who_may_act_on_a_deployment(client, scene, operation, caller, expected):
    """The 403 reasons are the reference's: "Access denied" for the sync calls
    (crates/alien-manager/src/routes/sync.rs), routes/auth.rs's require_admin_or_any_group and
    require_admin_or_group for resolve_credentials (routes/credentials.rs)."""
    response = call(client, operation, scene.callers[caller], scene.mine)
    assert response.status_code == expected, response.text
    if expected == 403:
        reason = "Access denied"
        if operation == "resolve_credentials":
            reason = ANY_GROUP if caller.endswith("deployment") else MATCHING_GROUP
        assert response.json()["code"] == "FORBIDDEN"
        assert response.json()["message"] == reason
        assert response.json()["context"] == {"reason": reason}


@pytest.mark.parametrize("operation", sorted(set(MATRIX) - {"release"}))
@pytest.mark.parametrize("caller", CALLERS)
def test_an_unknown_deployment_is_404_before_scope(client, scene, operation, caller):
    """Except resolve_credentials by a deployment token: refused before the lookup, as the
    reference (routes/credentials.rs:62-76, issue 22 item 9)."""
    response = call(client, operation, scene.callers[caller], "dep_unknown")
    if operation == "resolve_credentials" and caller.endswith("deployment"):
        assert response.status_code == 403
        assert response.json()["message"] == ANY_GROUP
        return
    assert response.status_code == 404
    assert response.json()["code"] == "DEPLOYMENT_NOT_FOUND"


# Acquire never refuses: it hands out only what is in scope. Which of `mine` / `sibling` each
# caller gets when it asks for every deployment there is.
ACQUIRES = {
    "admin":              {"mine", "sibling", "theirs"},
    "group":              {"mine", "sibling"},
    "other_group":        {"theirs"},
    "own_deployment":     {"mine"},
    "sibling_deployment": {"sibling"},
}  # fmt: skip


@pytest.mark.parametrize("caller, expected", ACQUIRES.items())
def test_acquire_hands_out_only_what_is_in_scope(client, scene, caller, expected):
    response = client.post(
        "/v1/sync/acquire", json={"session": "s", "limit": 100}, headers=scene.callers[caller]
    )
    assert response.status_code == 200
    assert {d["deployment"]["name"] for d in response.json()["deployments"]} == expected


# Release of a deployment already removed: fine for whoever could have held it (§7.3); a
# deployment token can only ever have held its own deployment.
RELEASE_GONE = (200, 200, 200, 403, 403)


@pytest.mark.parametrize("caller, expected", list(zip(CALLERS, RELEASE_GONE, strict=True)))
def test_release_of_a_removed_deployment(client, scene, caller, expected):
    response = client.post(
        "/v1/sync/release",
        json={"deploymentId": "dep_gone", "session": "s"},
        headers=scene.callers[caller],
    )
    assert response.status_code == expected


INITIALIZE = {"admin": 400, "group": 201, "own_deployment": 200}


@pytest.mark.parametrize("caller, expected", INITIALIZE.items())
def test_who_may_initialize(client, scene, caller, expected):
    response = client.post("/v1/initialize", json={}, headers=scene.callers[caller])
    assert response.status_code == expected
    if caller == "own_deployment":
        assert response.json() == {"deploymentId": scene.mine}


def test_every_operation_needs_a_token(client, scene):
    for operation in (*MATRIX, "acquire"):
        response = call(client, operation, bearer("ax_dg_" + "f" * 40), scene.mine)
        assert response.status_code == 401, operation
        assert call(client, operation, {}, scene.mine).status_code == 401, operation
