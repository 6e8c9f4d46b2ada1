"""The default limits take what the reference takes (issue 22, item 5), on both databases.

The reference bounds none of these: its only limit is axum's default body limit (2 MiB; its
router, crates/alien-manager/src/routes/mod.rs:46-75, adds no other). Names and sessions are
plain `String`s (routes/deployment_groups.rs:26 `name`, routes/sync.rs:28 `session`) and
acquire's ids a `Vec<String>` (routes/sync.rs:30). The defaults here are as generous as both
engines store and index safely: 640 characters of text (PostgreSQL's index rows), 10,000 items
in a list (far below either engine's bind-parameter ceiling), documents up to the body limit.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from tests.helpers import stack


def big_stack(size: int) -> dict[str, Any]:
    """A spec-valid Stack of about `size` bytes, as real stacks are (many resources)."""
    resources = {}
    for i in range(size // 500):
        resources[f"fn-{i}"] = {
            "config": {"id": f"fn-{i}", "type": "function", "code": "x" * 400},
            "lifecycle": "live",
            "dependencies": [],
        }
    return stack("big", **resources)


def test_a_300_character_group_name(client, admin):
    response = client.post("/v1/deployment-groups", json={"name": "g" * 300}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "g" * 300


def test_a_release_stack_of_524_kb(app, admin):
    """Through a plain client: the suite's second check of every response (openapi-core, in
    tests/oas.py) takes ~20 s over a thousand resources; the server's own response validation
    still runs."""
    client = TestClient(app)
    body = {"stack": {"aws": big_stack(524 * 1024)}}
    response = client.post("/v1/releases", json=body, headers=admin)
    assert response.status_code == 201, response.text[:500]
    latest = client.get("/v1/releases/latest", headers=admin).json()
    assert len(latest["stack"]["aws"]["resources"]) == len(body["stack"]["aws"]["resources"])


def test_10000_acquire_ids_and_a_300_character_session(client, world):
    """10,000 ids reach the database as one query on both engines (PostgreSQL's and SQLite's
    bind-parameter ceilings are 65,535 and 32,766)."""
    ids = [world.deployment_id] + [f"dep_{i}" for i in range(9_999)]
    session = "s" * 300
    body = {"session": session, "deploymentIds": ids}
    response = client.post("/v1/sync/acquire", json=body, headers=world.admin)
    assert response.status_code == 200, response.text[:500]
    leased = [item["deployment"]["id"] for item in response.json()["deployments"]]
    assert leased == [world.deployment_id]
    released = client.post(
        "/v1/sync/release",
        json={"deploymentId": world.deployment_id, "session": session},
        headers=world.admin,
    )
    assert released.status_code == 200, released.text


def test_a_reported_release_id_of_640_characters_any_of_them(client, world):
    """A worker's `currentRelease.releaseId` is stored as it came, up to the text limit and NUL
    included (PostgreSQL's VARCHAR(255) refused it with a 500 before)."""
    release_id = "r\x00" + "é" * 638
    body = {
        "deploymentId": world.deployment_id,
        "session": "s",
        "state": {
            "status": "running",
            "platform": "aws",
            "currentRelease": {"releaseId": release_id, "stack": stack("a")},
        },
    }
    response = client.post("/v1/sync/reconcile", json=body, headers=world.deployment)
    assert response.status_code == 200, response.text[:500]
    shown = client.get(f"/v1/deployments/{world.deployment_id}", headers=world.admin).json()
    assert shown["currentReleaseId"] == release_id
