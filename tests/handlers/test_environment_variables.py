"""docs/behaviour.md §10: `environmentVariables` on create_deployment is kept, not lost.

reference: crates/alien-manager/src/routes/deployments.rs: CreateDeploymentRequest takes
`environment_variables: Option<Vec<EnvironmentVariable>>` (alien-core's deployment.rs: name,
value, type plain|secret, targetResources skipped when None), stores it, and acquire returns it
in the raw record as `user_environment_variables` (traits/deployment_store.rs).
"""

from __future__ import annotations

import logging

import pytest

SECRET = "s3cr3t-value-that-must-never-be-logged"


def create(client, admin, **extra):
    return client.post(
        "/v1/deployments", json={"name": "d", "platform": "aws", **extra}, headers=admin
    )


def acquired_variables(client, admin):
    leased = client.post("/v1/sync/acquire", json={"session": "w"}, headers=admin).json()
    return [d["deployment"]["user_environment_variables"] for d in leased["deployments"]]


def test_variables_are_stored_and_handed_to_the_worker(client, api, admin):
    api.group()
    sent = [
        {"name": "LOG_LEVEL", "value": "debug", "type": "plain"},
        {"name": "API_KEY", "value": SECRET, "type": "secret", "targetResources": ["api-*"]},
        {"name": "EMPTY", "value": "", "type": "plain", "targetResources": None, "extra": 1},
    ]
    response = create(client, admin, environmentVariables=sent)
    assert response.status_code == 201, response.text
    assert "environmentVariables" not in response.json()["deployment"]  # as the reference
    assert acquired_variables(client, admin) == [
        [
            {"name": "LOG_LEVEL", "value": "debug", "type": "plain"},
            {"name": "API_KEY", "value": SECRET, "type": "secret", "targetResources": ["api-*"]},
            {"name": "EMPTY", "value": "", "type": "plain"},
        ]
    ]


@pytest.mark.parametrize("sent", [None, []], ids=["null", "empty"])
def test_absent_null_or_empty(client, api, admin, sent):
    api.group()
    create(client, admin)
    create(client, admin, environmentVariables=sent)
    assert acquired_variables(client, admin) == [None, sent]


@pytest.mark.parametrize(
    ("sent", "fragment"),
    [
        ({"name": "A"}, "is not of type 'array'"),
        ([{"name": "A", "value": "v"}], "'type' is a required property"),
        ([{"name": "A", "value": "v", "type": "encrypted"}], "is not one of ['plain', 'secret']"),
        ([{"name": "A", "value": 5, "type": "plain"}], "5 is not of type 'string'"),
        ([{"name": "A", "value": "v", "type": "plain", "targetResources": "x"}], "not of type"),
        (["A=v"], "is not of type 'object'"),
    ],
    ids=["not a list", "no type", "unknown type", "value not text", "targets not a list", "string"],
)
def test_a_malformed_list_is_a_400_and_creates_nothing(client, api, admin, sent, fragment):
    api.group()
    response = create(client, admin, environmentVariables=sent)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert any(fragment in e and "environmentVariables" in e for e in body["context"]["errors"])
    assert api.get("/v1/deployments")["items"] == []


def test_secret_values_never_reach_the_log(client, api, admin, caplog):
    caplog.set_level(logging.DEBUG)
    api.group()
    variables = [{"name": "API_KEY", "value": SECRET, "type": "secret"}]
    assert create(client, admin, environmentVariables=variables).status_code == 201
    bad = [{"name": "API_KEY", "value": SECRET, "type": "sealed"}]
    assert create(client, admin, environmentVariables=bad).status_code == 400
    assert acquired_variables(client, admin) == [variables]
    assert caplog.records, "expected log lines"
    assert SECRET not in caplog.text
