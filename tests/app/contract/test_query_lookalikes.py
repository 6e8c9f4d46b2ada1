"""Undeclared query parameters are ignored, as the reference ignores them (issue 22, item 6).

reference: crates/alien-manager/src/routes/deployments.rs:101-120 reads the list's query with
`form_urlencoded::parse` and `_ => {}`: any other key (`Limit`, `deployment_group_id`) is
dropped. One that looks like a declared parameter is also dropped here, with a WARNING naming
what was meant; `ALIEN_STRICT_QUERY=1` (the default in test mode) makes it a 400 instead.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from app.factory import create_app
from app.settings import Settings
from tests.helpers import ContractClient, assert_error

LOOKALIKES = [
    ("limit[]=1", "limit[]", "limit"),
    ("Limit=1", "Limit", "limit"),
    ("deployment_group_id=nope", "deployment_group_id", "deploymentGroupId"),
]


@pytest.mark.parametrize(("query", "key", "meant"), LOOKALIKES)
def test_a_lookalike_is_ignored_with_a_warning(client, api, world, caplog, query, key, meant):
    api.deployment(world.group, "second")
    caplog.set_level(logging.INFO)
    response = client.get(f"/v1/deployments?{query}", headers=world.admin)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 3  # neither a limit of 1 nor a filter applied
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"Query parameter '{key}' is unknown; did you mean '{meant}'? It is ignored."
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_the_declared_parameter_beside_a_lookalike_still_applies(client, api, world):
    api.deployment(world.group, "second")
    response = client.get(
        f"/v1/deployments?Limit=50&limit=1&deploymentGroupId={world.group_id}",
        headers=world.admin,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == 1


@pytest.mark.parametrize(
    ("overrides", "strict"),
    [
        ({"strict_query": True}, True),
        ({"test_mode": True}, True),
        ({"test_mode": True, "strict_query": False}, False),
        ({}, False),
    ],
    ids=["ALIEN_STRICT_QUERY=1", "test mode", "test mode, ALIEN_STRICT_QUERY=0", "default"],
)
def test_strict_query_is_a_400(settings, overrides, strict):
    app = create_app(dataclasses.replace(settings, **overrides))
    with ContractClient(app) as client:
        response = client.get(
            "/v1/deployments?Limit=1", headers={"Authorization": "Bearer " + settings.admin_token}
        )
        if strict:
            body = assert_error(response, 400, "VALIDATION_ERROR")
            assert body["message"] == "Query parameter 'Limit' is unknown; did you mean 'limit'?"
        else:
            assert response.status_code == 200, response.text


def test_the_setting_is_read_strictly():
    assert Settings.from_env({"ALIEN_STRICT_QUERY": "1"}).query_is_strict is True
    assert Settings.from_env({"ALIEN_TEST_MODE": "1"}).query_is_strict is True
    assert Settings.from_env({}).query_is_strict is False
