"""docs/behaviour.md §11: JSON the spec cannot mean is refused wherever a body is parsed, and
never sent: NaN and the infinities (RFC 8259 has neither), integer literals Python will not
convert, nesting deeper than the limit. Each was a stored NaN (then emitted to the admin as
literal `NaN`, which strict parsers reject) or a 500."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from models.deployments import Deployment

JSON = {"Content-Type": "application/json"}
NOT_JSON = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400"]


def post_raw(client: Any, path: str, text: str, headers: dict[str, str]) -> Any:
    return client.post(path, content=text.encode(), headers=headers | JSON)


def with_literal(body: Any, literal: str) -> str:
    """`body` as JSON text, with every `"@"` in it replaced by the raw `literal`."""
    return json.dumps(body).replace('"@"', literal)


def refused(response: Any) -> list[str]:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["context"]["errors"], body
    return list(body["context"]["errors"])


@pytest.mark.parametrize("literal", NOT_JSON)
def test_a_group_token_cannot_store_nan_in_stack_settings(client, api, world, literal):
    before = api.get(f"/v1/deployments?deploymentGroupId={world.group_id}")
    text = with_literal({"name": "n", "platform": "aws", "stackSettings": {"x": "@"}}, literal)
    refused(post_raw(client, "/v1/deployments", text, world.group))
    assert api.get(f"/v1/deployments?deploymentGroupId={world.group_id}") == before


@pytest.mark.parametrize("literal", NOT_JSON)
def test_a_deployment_token_cannot_store_nan_through_reconcile(client, api, world, literal):
    stack_state = {"platform": "aws", "resourcePrefix": "p", "resources": {}, "n": "@"}
    state = {"status": "running", "platform": "aws", "runtimeMetadata": {"_internal": "@"},
             "stackState": stack_state}  # fmt: skip
    body = {"deploymentId": world.deployment_id, "session": "s", "state": state}
    text = with_literal(body, literal)
    refused(post_raw(client, "/v1/sync/reconcile", text, world.deployment))
    shown = api.get(f"/v1/deployments/{world.deployment_id}")
    assert shown["status"] == "pending" and "runtimeMetadata" not in shown


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/v1/deployment-groups", '{"name": "g", "maxDeployments": NaN}'),
        ("/v1/sync/acquire", '{"session": "s", "limit": Infinity}'),
        ("/v1/releases", '{"stack": {"aws": {"id": "a", "resources": {}}}, "x": -Infinity}'),
    ],
    ids=["number field", "acquire", "unknown field"],
)
def test_nan_is_refused_in_any_body(client, admin, path, text):
    errors = refused(post_raw(client, path, text, admin))
    assert any("RFC 8259" in e or "out of range" in e for e in errors), errors


@pytest.mark.parametrize(
    "number",
    ["1" * 5000, "-" + "9" * 4301],
    ids=["5000 digits", "4301 digits"],
)
def test_an_integer_literal_too_long_to_convert_is_a_400_not_a_500(client, admin, number):
    text = with_literal({"name": "g", "x": "@"}, number)
    errors = refused(post_raw(client, "/v1/deployment-groups", text, admin))
    assert any("integer literal is longer than 4300 digits" in e for e in errors), errors


def nested(depth: int) -> str:
    """A JSON value that is `depth` arrays deep."""
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [64, 65, 100_000], ids=["64 levels", "65 levels", "100k levels"])
def test_nesting_deeper_than_the_limit_is_a_400(client, api, world, depth):
    # The body is level 1 and stackSettings level 2, so `depth - 1` more arrays reach `depth`.
    text = with_literal(
        {"name": "n", "platform": "aws", "stackSettings": {"x": "@"}}, nested(depth - 2)
    )
    response = post_raw(client, "/v1/deployments", text, world.group)
    if depth <= 64:
        # Accepted at the limit (stackSettings then keeps only the spec's properties, §10).
        assert response.status_code == 201, response.text
    else:
        errors = refused(response)
        assert any("nested" in e for e in errors), errors


def test_the_handler_gets_the_body_the_validator_accepted(app):
    """Flask parses the body again for the handler: with the same strict parser, so no body can
    pass the validator and then mean something else (or nothing) to the handler."""
    with app.app.test_request_context(
        "/", method="POST", data=b'{"x": NaN}', content_type="application/json"
    ) as ctx:
        assert ctx.request.get_json(silent=True) is None
    with app.app.test_request_context(
        "/", method="POST", data=b'{"x": 1.5}', content_type="application/json"
    ) as ctx:
        assert ctx.request.get_json() == {"x": 1.5}


def test_a_stored_nan_is_a_logged_500_never_literal_nan(app, api, world, caplog):
    """Written before this server refused it (or behind its back): the encoder refuses it too."""
    Deployment.update(stack_settings={"x": float("nan")}).where(
        Deployment.id == world.deployment_id
    ).execute()
    caplog.set_level(logging.ERROR, logger="alien.errors")
    with TestClient(app, raise_server_exceptions=False) as raw:
        for path in (f"/v1/deployments/{world.deployment_id}", "/v1/deployments"):
            response = raw.get(path, headers=world.admin)
            assert response.status_code == 500, response.text
            assert b"NaN" not in response.content
            assert response.json()["code"] == "GENERIC_ERROR"
        acquired = raw.post("/v1/sync/acquire", json={"session": "s"}, headers=world.admin)
        assert acquired.status_code == 500 and b"NaN" not in acquired.content
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    # Other groups' deployments are still readable: one tenant's data breaks only its own rows.
    other = api.get(f"/v1/deployments/{world.other_deployment_id}")
    assert other["id"] == world.other_deployment_id
