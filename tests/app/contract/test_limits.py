"""docs/behaviour.md §11: hard limits, checked before the database, so SQLite and PostgreSQL
accept exactly the same inputs; every breach is a 400 VALIDATION_ERROR that says what, briefly.
Before them: 70k deploymentIds were a PostgreSQL 500 (parameter count), 300k a SQLite one; a
~2,700-byte name a PostgreSQL 500 (btree) and fine on SQLite; a 1.5 MB body a 6 MB error."""

from __future__ import annotations

import dataclasses
import logging
import random
from typing import Any

import pytest

from app.factory import create_app
from app.settings import Settings
from tests.helpers import ContractClient, stack

#: The limits this module's server runs with: narrower than the defaults (test_the_documented_
#: defaults), so that each can be crossed inside the body limit and cheaply.
LIST = 1000
TEXT = 256
DOCUMENT = 256 * 1024


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(
        settings, max_list_items=LIST, max_text_chars=TEXT, max_document_bytes=DOCUMENT
    )


def refused(response: Any, *fragments: str) -> list[str]:
    assert response.status_code == 400, response.text[:2000]
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    errors = body["context"]["errors"]
    for fragment in fragments:
        assert any(fragment in e for e in errors), errors
    assert len(response.content) < 8 * 1024, "an error echoes a bounded slice of its input"
    return list(errors)


def test_the_documented_defaults():
    """Issue 22, item 5: as generous as both databases store and index safely."""
    s = Settings()
    assert (s.max_list_items, s.max_text_chars, s.max_document_bytes, s.max_json_depth) == (
        10_000, 640, 2 * 1024 * 1024, 64,
    )  # fmt: skip
    assert s.max_document_bytes == s.max_body_bytes


# -- lists -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "item"),
    [("deploymentIds", "dep_x"), ("platforms", "aws"), ("statuses", "running")],
)
@pytest.mark.parametrize("count", [LIST, LIST + 1, 70_000])
def test_acquire_lists_have_a_maximum(client, world, field, item, count):
    response = client.post(
        "/v1/sync/acquire", json={"session": "s", field: [item] * count}, headers=world.admin
    )
    if count <= LIST:
        assert response.status_code == 200, response.text
    else:
        refused(response, f"'{field}' has {count} items; at most {LIST}")


def test_any_array_in_a_body_has_the_maximum(client, world):
    body = {"name": "n", "platform": "aws", "stackSettings": {"x": list(range(LIST + 1))}}
    refused(client.post("/v1/deployments", json=body, headers=world.group), "stackSettings.x")


# -- text that is indexed or compared ------------------------------------------------------------


@pytest.mark.parametrize("length", [TEXT, TEXT + 1, 2_700])
def test_names_have_one_maximum_on_every_database(client, api, world, length):
    name = "n" * length
    group = client.post("/v1/deployment-groups", json={"name": name}, headers=world.admin)
    deployment = client.post(
        "/v1/deployments", json={"name": name, "platform": "aws"}, headers=world.group
    )
    init = client.post("/v1/initialize", json={"name": name}, headers=world.group)
    if length <= TEXT:
        # initialize finds the deployment just made by its name (§7.5): 200, not a second one
        assert (group.status_code, deployment.status_code, init.status_code) == (200, 201, 200)
        assert init.json()["deploymentId"] == deployment.json()["deployment"]["id"]
        assert deployment.json()["deployment"]["name"] == name
    else:
        for response in (group, deployment, init):
            refused(response, f"'name' is {length} characters long; at most {TEXT}")
        assert len(api.get(f"/v1/deployments?deploymentGroupId={world.group_id}")["items"]) == 1


def test_the_ceiling_of_the_text_limit_is_indexable_on_every_database(settings):
    """ALIEN_MAX_TEXT_CHARS may be raised to 640: a name of 640 four-byte, incompressible
    characters is still stored and found on PostgreSQL (whose index rows stop near 2,700 bytes)."""
    app = create_app(dataclasses.replace(settings, max_text_chars=640))
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    rng = random.Random(9)
    name = "".join(chr(rng.randrange(0x20000, 0x2A6D0)) for _ in range(640))
    with ContractClient(app) as client:
        group = client.post("/v1/deployment-groups", json={"name": "g"}, headers=admin).json()
        token = client.post(f"/v1/deployment-groups/{group['id']}/tokens", headers=admin)
        dg = {"Authorization": f"Bearer {token.json()['token']}"}
        created = client.post("/v1/deployments", json={"name": name, "platform": "aws"}, headers=dg)
        assert created.status_code == 201, created.text
        found = client.post("/v1/initialize", json={"name": name}, headers=dg)  # by the index
        assert found.status_code == 200, found.text
        assert found.json()["deploymentId"] == created.json()["deployment"]["id"]
    with pytest.raises(ValueError, match="ALIEN_MAX_TEXT_CHARS"):
        Settings.from_env({"ALIEN_MAX_TEXT_CHARS": "641"})


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/sync/acquire", {"session": "s" * 3000}, "session"),
        ("/v1/sync/acquire", {"session": "s", "deploymentIds": ["d" * 3000]}, "deploymentIds.0"),
        ("/v1/sync/release", {"deploymentId": "d" * 3000, "session": "s"}, "deploymentId"),
        ("/v1/sync", {"deploymentId": "d" * 3000}, "deploymentId"),
        ("/v1/resolve-credentials", {"deploymentId": "d" * 3000}, "deploymentId"),
        ("/v1/deployments", {"name": "n", "platform": "aws", "deploymentGroupId": "g" * 3000},
         "deploymentGroupId"),
    ],
    ids=["session", "acquired id", "released id", "operator sync id", "credentials id", "group id"],
)  # fmt: skip
def test_sessions_and_ids_in_bodies_have_the_text_maximum(client, world, path, body, field):
    refused(client.post(path, json=body, headers=world.admin), f"'{field}' is 3000 characters")


def test_a_reconcile_session_over_the_maximum_never_locks(client, api, world):
    body = {
        "deploymentId": world.deployment_id,
        "session": "s" * (TEXT + 1),
        "state": {"status": "provisioning", "platform": "aws"},
    }
    refused(client.post("/v1/sync/reconcile", json=body, headers=world.deployment), "'session'")
    assert api.get(f"/v1/deployments/{world.deployment_id}")["status"] == "pending"


# -- stored documents ----------------------------------------------------------------------------


def blob(size: int) -> dict[str, str]:
    """A JSON object of exactly `size` bytes in compact form."""
    return {"b": "x" * (size - len('{"b":""}'))}


@pytest.mark.parametrize("size", [DOCUMENT, DOCUMENT + 1])
def test_stack_settings_have_a_size_limit(client, world, size):
    body = {"name": "n", "platform": "aws", "stackSettings": blob(size)}
    response = client.post("/v1/deployments", json=body, headers=world.group)
    if size <= DOCUMENT:  # a long string inside a document is bounded by the document only
        assert response.status_code == 201, response.text[:500]
    else:
        refused(response, f"'stackSettings' is {size} bytes of JSON; at most {DOCUMENT}")


@pytest.mark.parametrize("field", ["stackState", "environmentInfo", "runtimeMetadata"])
def test_reconciled_documents_have_a_size_limit(client, api, world, field):
    state: dict[str, Any] = {"status": "provisioning", "platform": "aws", field: blob(DOCUMENT + 1)}
    if field == "stackState":
        state[field] |= {"platform": "aws", "resourcePrefix": "p", "resources": {}}
    body = {"deploymentId": world.deployment_id, "session": "s", "state": state}
    response = client.post("/v1/sync/reconcile", json=body, headers=world.deployment)
    refused(response, f"'state.{field}' is ", f"at most {DOCUMENT}")
    assert api.get(f"/v1/deployments/{world.deployment_id}")["status"] == "pending"


@pytest.mark.parametrize("field", ["stack", "gitMetadata"])
def test_release_documents_have_a_size_limit(client, world, field):
    body: dict[str, Any] = {"stack": {"aws": stack()}}
    if field == "stack":
        body["stack"]["aws"]["id"] = "x" * DOCUMENT
    else:
        body["gitMetadata"] = {"commitMessage": "m" * DOCUMENT}
    refused(client.post("/v1/releases", json=body, headers=world.admin), f"'{field}' is ")
    assert client.get("/v1/releases/latest", headers=world.admin).status_code == 404


# -- bounded errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"name": ["x" * 100] * 15_000},
        {"name": "g", "maxDeployments": "9" * 1_500_000},
        {"name": "g", "k" * 1_500_000: 1},
        {"name": {str(i): "x" * 100 for i in range(10_000)}},
    ],
    ids=["long list", "long string", "long key", "wide object"],
)
def test_an_error_never_echoes_more_than_a_slice_of_a_large_body(client, admin, body):
    refused(client.post("/v1/deployment-groups", json=body, headers=admin))


def test_schema_errors_quote_a_short_slice_of_the_value(client, world):
    body = {"name": "n", "platform": "aws", "stackSettings": {"deploymentModel": "p" * 5000}}
    errors = refused(client.post("/v1/deployments", json=body, headers=world.group))
    assert all(len(e) < 400 for e in errors), errors


def test_at_most_twenty_failures_are_listed(client, world):
    body = {"session": "s", "deploymentIds": ["d" * (TEXT + 1)] * 100}
    assert len(refused(client.post("/v1/sync/acquire", json=body, headers=world.admin))) == 20


# -- query parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("limit=1001", "Query parameter 'limit' is not valid: 1001 is greater than the maximum of 1000"),
        ("limit=x", "Query parameter 'limit' is not valid: 'x' is not of type 'integer'"),
        ("limit=1e999", "Query parameter 'limit' is not valid: '1e999' is not of type 'integer'"),
        ("limit=" + "9" * 5000, "Query parameter 'limit' is 5000 characters long; at most 256 are allowed"),
        ("deploymentGroupId=" + "g" * 300, "Query parameter 'deploymentGroupId' is 300 characters long; at most 256 are allowed"),
        ("include[]=a&" * (LIST + 1), "Query parameter 'include[]' is repeated 1001 times; at most 1000 are allowed"),
    ],
    ids=["over max", "not int", "overflow", "huge int", "long id", "repeated"],
)  # fmt: skip
def test_query_errors_are_one_sentence(client, admin, caplog, query, message):
    caplog.set_level(logging.INFO)
    response = client.get(f"/v1/deployments?{query}", headers=admin)
    body = response.json()
    assert (response.status_code, body["code"], body["message"]) == (
        400,
        "VALIDATION_ERROR",
        message,
    )
    assert body["context"]["errors"] == [message]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_undeclared_parameter_named_like_an_argument_is_no_error_in_the_log(
    client, admin, caplog
):
    caplog.set_level(logging.INFO)
    response = client.get("/v1/deployments?caller=1&body=2", headers=admin)
    assert response.status_code == 200, response.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_path_id_too_long_to_exist_is_the_resources_404_with_a_bounded_echo(client, admin):
    response = client.get("/v1/deployments/" + "x" * 5000, headers=admin)
    assert response.status_code == 404 and response.json()["code"] == "DEPLOYMENT_NOT_FOUND"
    assert len(response.content) < 3 * 1024  # message and context: 1,024 characters each


# -- configurable --------------------------------------------------------------------------------


def test_the_limits_are_settings(settings):
    small = dataclasses.replace(
        settings, max_list_items=2, max_text_chars=5, max_document_bytes=20, max_json_depth=3
    )
    admin = {"Authorization": f"Bearer {settings.admin_token}"}
    with ContractClient(create_app(small)) as client:
        acquire = client.post("/v1/sync/acquire", json={"session": "s", "platforms": ["aws"] * 3},
                              headers=admin)  # fmt: skip
        refused(acquire, "at most 2 are allowed")
        refused(client.post("/v1/deployment-groups", json={"name": "g" * 6}, headers=admin),
                "at most 5 are allowed")  # fmt: skip
        deep = {"name": "n", "platform": "aws", "deploymentGroupId": "g",
                "stackSettings": {"a": {"b": {}}}}  # fmt: skip
        refused(client.post("/v1/deployments", json=deep, headers=admin), "deeper than 3 levels")
        big = {"name": "n", "platform": "aws", "deploymentGroupId": "g", "stackSettings": blob(21)}
        refused(client.post("/v1/deployments", json=big, headers=admin), "at most 20 are allowed")


def test_the_limits_are_read_from_the_environment():
    env = {
        "ALIEN_MAX_LIST_ITEMS": "5", "ALIEN_MAX_TEXT_CHARS": "300",
        "ALIEN_MAX_DOCUMENT_BYTES": "1000", "ALIEN_MAX_JSON_DEPTH": "10",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert (s.max_list_items, s.max_text_chars, s.max_document_bytes, s.max_json_depth) == (
        5, 300, 1000, 10,
    )  # fmt: skip
