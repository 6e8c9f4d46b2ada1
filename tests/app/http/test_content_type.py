"""Which bodies are JSON, as the reference decides it (issue 22, item 1).

The reference reads every body with axum 0.8's `Json` extractor, e.g.
crates/alien-manager/src/routes/deployment_groups.rs:106 (`Json(req): Json<CreateDeploymentGroupRequest>`)
and routes/credentials.rs:55. axum's `json_content_type` (axum 0.8.4, src/json.rs) parses the
header with the `mime` crate, which lowercases type and subtype, and takes `application/json`
and any `application/*+json`, whatever parameters follow. serde's derived `Deserialize` refuses a
duplicate field; we answer 400 where axum answers 422 (docs/behaviour.md §10).
"""

from __future__ import annotations

import pytest

from app.http.gate import is_json_type
from tests.helpers import assert_error

JSON_TYPES = [
    "application/json",
    "APPLICATION/JSON",
    "Application/Json; charset=utf-8",
    "application/json;charset=UTF-8",
    " application/json ",
    "application/vnd.api+json",
    "application/merge-patch+JSON",
]
NOT_JSON = ["text/plain", "text/json", "application/xml", "application/jsonx", "json"]


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_every_json_type_reaches_the_handler_parsed(client, admin, content_type):
    response = client.post(
        "/v1/deployment-groups",
        content=b'{"name": "typed"}',
        headers=admin | {"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "typed"


@pytest.mark.parametrize("content_type", JSON_TYPES)
def test_a_json_type_with_a_bad_body_is_a_400_not_a_500(client, admin, content_type):
    response = client.post(
        "/v1/deployment-groups",
        content=b'{"name": ',
        headers=admin | {"Content-Type": content_type},
    )
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("content_type", NOT_JSON)
def test_other_types_are_415(client, admin, content_type):
    response = client.post(
        "/v1/deployment-groups",
        content=b'{"name": "g"}',
        headers=admin | {"Content-Type": content_type},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    ("media_type", "expected"),
    [(t, True) for t in JSON_TYPES] + [(t, False) for t in NOT_JSON],
)
def test_the_rule_as_the_mime_crate_reads_it(media_type, expected):
    assert is_json_type(media_type.encode()) is expected


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "a", "name": "b"}',
        b'{"name": "a", "maxDeployments": 1, "maxDeployments": 2}',
        b'{"name": "a", "x": {"k": 1, "k": 1}}',  # nested, and an unknown key: still refused
    ],
)
def test_a_duplicate_key_is_a_400(client, admin, body):
    response = client.post(
        "/v1/deployment-groups", content=body, headers=admin | {"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert "Duplicate key" in error["message"]
    assert client.get("/v1/deployment-groups", headers=admin).json()["items"] == []
