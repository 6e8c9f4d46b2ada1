"""docs/behaviour.md §3: every error, from a handler or the framework, is an AlienError."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

import handlers
from app.factory import create_app
from app.http.error_responses import STATUS
from tests.docs import table
from tests.helpers import assert_error

# -- 400 VALIDATION_ERROR ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "'name' is a required property"),
        ({"name": 5}, "5 is not of type 'string'"),
        ({"name": "g", "maxDeployments": 2**63}, "is not a 'int64'"),
        ({"name": "g", "maxDeployments": "5"}, "'5' is not of type 'integer'"),
        ([], "is not of type 'object'"),
    ],
)
def test_body_violating_the_spec(client, admin, body, fragment):
    response = client.post("/v1/deployment-groups", json=body, headers=admin)
    error = assert_error(response, 400, "VALIDATION_ERROR")
    assert any(fragment in e for e in error["context"]["errors"]), error


def test_every_failure_is_listed(client, admin):
    response = client.post("/v1/deployments", json={"name": 1, "platform": "mars"}, headers=admin)
    errors = assert_error(response, 400, "VALIDATION_ERROR")["context"]["errors"]
    assert len(errors) == 2, errors


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"name": "g",}', b"\xff\xfe{}", b'{"name": "\xff"}'],
    ids=["truncated", "trailing comma", "utf-16 bom", "not utf-8"],
)
def test_malformed_json(client, admin, content):
    response = client.post(
        "/v1/deployment-groups",
        content=content,
        headers=admin | {"Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR")


def test_empty_body_where_one_is_required(client, admin):
    response = client.post(
        "/v1/deployment-groups", content=b"", headers=admin | {"Content-Type": "application/json"}
    )
    assert_error(response, 400, "VALIDATION_ERROR")


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "cursor=%25%25%25"])
def test_query_violating_the_spec(client, admin, query):
    response = client.get(f"/v1/deployments?{query}", headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["code"] in {"VALIDATION_ERROR", "BAD_REQUEST"}


def test_null_where_the_spec_says_nullable_is_accepted(client, admin, api):
    api.group()
    body = {"name": "d", "platform": "aws", "deploymentGroupId": None, "stackSettings": None}
    assert client.post("/v1/deployments", json=body, headers=admin).status_code == 201


# -- 404 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/nope", "/v1", "/v1/deployments/x/y/z", "/v2/whoami"])
def test_unknown_path(client, admin, path):
    assert_error(client.get(path, headers=admin), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("path", "code", "message"),
    [
        ("/v1/deployments/dep_x", "DEPLOYMENT_NOT_FOUND", "Deployment 'dep_x' not found"),
        ("/v1/deployment-groups/dg_x", "DEPLOYMENT_GROUP_NOT_FOUND", "Deployment group 'dg_x' not found"),
        ("/v1/releases/rel_x", "RELEASE_NOT_FOUND", "Release 'rel_x' not found"),
        ("/v1/releases/latest", "RELEASE_NOT_FOUND", "Release 'latest' not found"),
        ("/v1/deployments/" + "x" * 5000, "DEPLOYMENT_NOT_FOUND", None),
        ("/v1/deployments/%C3%A9%F0%9F%92%A5'%22;--", "DEPLOYMENT_NOT_FOUND", None),
    ],
    ids=["deployment", "group", "release", "latest", "very long id", "odd id"],
)  # fmt: skip
def test_unknown_ids(client, admin, path, code, message):
    body = assert_error(client.get(path, headers=admin), 404, code, message)
    assert body["context"]


# -- 405, 413, 415 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/v1/deployments", {"GET", "HEAD", "POST"}),
        ("TRACE", "/v1/deployments/dep_x", {"GET", "HEAD", "DELETE"}),
        ("DELETE", "/v1/releases/latest", {"GET", "HEAD"}),
        ("GET", "/v1/sync/acquire", {"POST"}),
        ("PATCH", "/health", {"GET", "HEAD"}),
    ],
)
def test_wrong_method_lists_every_allowed_one(client, admin, method, path, allow):
    response = client.request(method, path, headers=admin)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["allow"].split(", ")) == allow


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded"]
)
def test_body_that_is_not_json(client, admin, content_type):
    response = client.post(
        "/v1/deployment-groups",
        content=b'{"name": "g"}',
        headers=admin | {"Content-Type": content_type},
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


# -- 500 -----------------------------------------------------------------------------------


@pytest.fixture
def broken_app(settings, monkeypatch):
    def boom(caller):
        raise RuntimeError("secret detail /etc/passwd SELECT * FROM token")

    def bad_shape(caller):
        return {"kind": 5}

    caller_only = (handlers.CALLER,)
    monkeypatch.setitem(handlers.OPERATIONS, "whoami", handlers.Operation(boom, caller_only))
    monkeypatch.setitem(
        handlers.OPERATIONS, "get_latest_release", handlers.Operation(bad_shape, caller_only)
    )
    return create_app(settings)


def test_unexpected_exception_is_a_generic_500_with_details_only_in_the_log(
    broken_app, admin, caplog
):
    with TestClient(broken_app, raise_server_exceptions=False) as raw_client:
        response = raw_client.get("/v1/whoami", headers=admin)
    body = assert_error(response, 500, "GENERIC_ERROR", "Internal server error")
    # reference: crates/alien-error/src/lib.rs: GenericError is neither retryable nor internal
    assert body["retryable"] is False and body["internal"] is False
    assert "secret" not in response.text and "Traceback" not in response.text
    assert "secret detail" in caplog.text


def test_non_conforming_response_is_a_generic_500(broken_app, admin, caplog):
    caplog.set_level(logging.ERROR)
    with TestClient(broken_app, raise_server_exceptions=False) as raw_client:
        response = raw_client.get("/v1/releases/latest", headers=admin)
    assert_error(response, 500, "GENERIC_ERROR", "Internal server error")
    assert "kind" not in response.text
    assert "does not conform" in caplog.text


# -- odd but legal requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "encoding", "status"),
    [
        ("application/json; charset=utf-8", "utf-8", 200),
        ("application/json; charset=klingon", "utf-8", 200),
        ("application/json;charset=latin-1", "utf-8", 200),
        ("application/json; charset=latin-1", "latin-1", 400),
    ],
)
def test_json_is_utf8_whatever_the_charset_says(client, admin, content_type, encoding, status):
    body = '{"name": "café"}'.encode(encoding)
    response = client.post(
        "/v1/deployment-groups", content=body, headers=admin | {"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["name"] == "café"


def test_lone_surrogate_escape_is_a_400(client, admin):
    response = client.post(
        "/v1/deployment-groups",
        content=b'{"name": "\\ud800"}',
        headers=admin | {"Content-Type": "application/json"},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    paired = client.post(
        "/v1/deployment-groups",
        content=b'{"name": "\\ud83d\\ude00"}',
        headers=admin | {"Content-Type": "application/json"},
    )
    assert paired.status_code == 200 and paired.json()["name"] == "\U0001f600"


def test_the_behaviour_reference_lists_exactly_these_codes_and_statuses():
    documented = {row["code"].strip("`"): int(row["status"]) for row in table("3.", "code")}
    assert documented == STATUS
