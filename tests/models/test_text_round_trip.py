"""Whatever string a client sends comes back exactly, on SQLite and on PostgreSQL alike."""

from __future__ import annotations

import pytest

NAMES = [
    "plain",
    "nul\x00inside",
    "\\0 not a nul",
    "back\\slash\\\\",
    "ünïcödé ✓ \U0001f600",
    "\x00",
    "",
]


def printable(value: str) -> str:
    """A test id of printable ASCII only: pytest escapes any other character in a node id, and
    such an id does not select its test when given back on the command line (mutmut does)."""
    return ascii(value).replace("\\", "/")


@pytest.mark.parametrize("name", NAMES, ids=printable)
def test_group_and_deployment_names_round_trip(client, api, name):
    group = client.post("/v1/deployment-groups", json={"name": name}, headers=api.admin).json()
    assert group["name"] == name
    assert api.get(f"/v1/deployment-groups/{group['id']}")["name"] == name
    body = {"name": name, "platform": "aws", "deploymentGroupId": group["id"]}
    deployment = client.post("/v1/deployments", json=body, headers=api.admin).json()["deployment"]
    assert api.get(f"/v1/deployments/{deployment['id']}")["name"] == name


@pytest.mark.parametrize("ident", ["dep_\x00", "\x00"], ids=printable)
def test_ids_with_nul_are_simply_not_found(client, api, ident):
    api.group()
    response = client.post(
        "/v1/deployments",
        json={"name": "d", "platform": "aws", "deploymentGroupId": ident},
        headers=api.admin,
    )
    assert response.status_code == 404
    listed = client.get("/v1/deployments", params={"deploymentGroupId": ident}, headers=api.admin)
    assert listed.status_code == 200 and listed.json()["items"] == []
