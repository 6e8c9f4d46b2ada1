"""The second validator (tests/oas.py) catches what it is there to catch.

Every `client` response passes through it, so a suite that stays green only shows it accepts
conforming traffic; these tests show it refuses non-conforming traffic, including responses
Connexion's own response validation lets through or is not running to see.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.core.failures import FailureGroup

import handlers
import tests.contract.hooks  # noqa: F401  (registers the custom checks)
from app.factory import create_app
from app.settings import Settings
from tests import oas
from tests.helpers import SPEC_PATH, ContractClient

BASE = "http://testserver"
DEPLOYMENT = "/v1/deployments/dep_0b0c8e7e-3f0a-4c1e-9a51-2d4f6f0e1a2b"
WHOAMI = {"kind": "serviceAccount", "id": "tok_1", "scope": {"type": "admin"}}
GROUP = {"id": "dg_1", "name": "g", "maxDeployments": 100, "deploymentCount": 0,
         "createdAt": "2026-03-13T23:35:36.123456+00:00"}  # fmt: skip
DEPLOYED = {"id": "dep_1", "name": "d", "platform": "aws", "status": "pending",
            "deploymentGroupId": "dg_1", "stackSettings": {}, "retryRequested": False,
            "createdAt": "2026-03-13T23:35:36.123456+00:00"}  # fmt: skip


def error(code: str, status: int, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": "m", "retryable": False, "internal": False,
            "httpStatusCode": status, **extra}  # fmt: skip


def response(
    method: str,
    path: str,
    status: int,
    body: Any = None,
    *,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    request = httpx.Request(method, BASE + path)
    if content is not None:
        return httpx.Response(status, content=content, headers=headers, request=request)
    if body is None:
        return httpx.Response(status, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


UNAUTHORIZED = {"WWW-Authenticate": "Bearer"}

CONFORMING = {
    "documented success": response("GET", "/v1/whoami", 200, WHOAMI),
    "group": response("GET", "/v1/deployment-groups/dg_1", 200, GROUP),
    "deployment": response("GET", DEPLOYMENT, 200, DEPLOYED),
    "documented 404": response("GET", DEPLOYMENT, 404, error("DEPLOYMENT_NOT_FOUND", 404)),
    "§8 401": response("GET", "/v1/whoami", 401, error("UNAUTHORIZED", 401), headers=UNAUTHORIZED),
    "§8 403 on a group": response("GET", "/v1/deployment-groups/x", 403, error("FORBIDDEN", 403)),
    "§8 404 on create_deployment": response(
        "POST", "/v1/deployments", 404, error("DEPLOYMENT_GROUP_NOT_FOUND", 404)
    ),
    "§8 400 on a body": response("POST", "/v1/sync/acquire", 400, error("BAD_REQUEST", 400)),
    "§8 400 on an extension query": response(
        "GET", "/v1/deployment-groups?limit=0", 400, error("VALIDATION_ERROR", 400)
    ),
    "§8 409 on reconcile": response(
        "POST", "/v1/sync/reconcile", 409, error("DEPLOYMENT_LOCKED", 409)
    ),
    "§8 415 on a body": response("POST", "/v1/releases", 415, error("UNSUPPORTED_MEDIA_TYPE", 415)),
    "§8 body where none is declared": response(
        "DELETE", DEPLOYMENT, 202, {"message": "Deployment deletion enqueued"}
    ),
    "no body where none is declared": response("POST", "/v1/sync/release", 200),
    "§5.4 503": response(
        "POST", "/v1/resolve-credentials", 503, error("INVALID_client_config", 503)
    ),
    "unknown path": response("GET", "/v2/nothing", 404, error("NOT_FOUND", 404)),
    "405 with the path's methods": response(
        "PUT",
        "/v1/deployments",
        405,
        error("METHOD_NOT_ALLOWED", 405),
        headers={"Allow": "GET, POST, HEAD"},
    ),  # fmt: skip
    "snake_case context": response(
        "GET", DEPLOYMENT, 404, error("DEPLOYMENT_NOT_FOUND", 404, context={"deployment_id": "x"})
    ),
    "served spec": response("GET", "/openapi.json", 200, {"anything": True}),
    "HEAD": response("HEAD", "/v1/whoami", 200),
    "HEAD error without a body": response("HEAD", DEPLOYMENT, 404),
    "§8 400 on a query": response(
        "GET", "/v1/deployments?include=x", 400, error("VALIDATION_ERROR", 400)
    ),
}

VIOLATIONS = {
    "wrong type": (response("GET", "/v1/whoami", 200, {**WHOAMI, "id": 5}), "id"),
    "missing required": (
        response(
            "GET",
            "/v1/deployment-groups/dg_1",
            200,
            {k: v for k, v in GROUP.items() if k != "name"},
        ),
        "name",
    ),
    "nested required": (response("GET", "/v1/whoami", 200, {**WHOAMI, "scope": {}}), "scope"),
    "bad enum": (response("GET", DEPLOYMENT, 200, {**DEPLOYED, "platform": "mars"}), "platform"),
    "§4 null for an absent field": (
        response("GET", DEPLOYMENT, 200, {**DEPLOYED, "deploymentGroup": None}),
        "deploymentGroup",
    ),
    "int as string": (
        response("GET", "/v1/deployment-groups/dg_1", 200, {**GROUP, "deploymentCount": "0"}),
        "deploymentCount",
    ),
    "undocumented success status": (
        response("POST", "/v1/deployment-groups", 201, GROUP),
        "undocumented status 201",
    ),
    "success on an unknown path": (response("GET", "/v2/x", 200, {}), "not in the spec"),
    "problem+json error": (
        response(
            "GET",
            DEPLOYMENT,
            404,
            content=b'{"title": "Not Found"}',
            headers={"Content-Type": "application/problem+json"},
        ),
        "not application/json",
    ),  # fmt: skip
    "not an AlienError": (
        response("GET", DEPLOYMENT, 404, {"error": "not found"}),
        "not an AlienError",
    ),
    "httpStatusCode mismatch": (
        response("GET", DEPLOYMENT, 404, error("DEPLOYMENT_NOT_FOUND", 400)),
        "httpStatusCode",
    ),
    "code of another status": (
        response("GET", DEPLOYMENT, 404, error("FORBIDDEN", 404)),
        "does not go with",
    ),
    "camelCase context": (
        response(
            "GET",
            DEPLOYMENT,
            404,
            error("DEPLOYMENT_NOT_FOUND", 404, context={"deploymentId": "x"}),
        ),
        "snake_case",
    ),  # fmt: skip
    "401 without a challenge": (
        response("GET", "/v1/whoami", 401, error("UNAUTHORIZED", 401)),
        "WWW-Authenticate",
    ),
    "405 with a wrong Allow": (
        response(
            "PUT",
            "/v1/deployments",
            405,
            error("METHOD_NOT_ALLOWED", 405),
            headers={"Allow": "GET, HEAD"},
        ),
        "Allow",
    ),  # fmt: skip
    "a crash": (
        response("GET", "/v1/whoami", 500, error("GENERIC_ERROR", 500)),
        "whoami 500",
    ),
    "INVALID_client_config elsewhere": (
        response("GET", "/v1/whoami", 503, error("INVALID_client_config", 503)),
        "whoami 503",
    ),
    "401 on health": (
        response("GET", "/health", 401, error("UNAUTHORIZED", 401), headers=UNAUTHORIZED),
        "not allowed by §8",
    ),
    "400 where there is no input": (
        response("GET", "/v1/whoami", 400, error("VALIDATION_ERROR", 400)),
        "not allowed by §8",
    ),
    "400 where there is only a path": (
        response("GET", DEPLOYMENT, 400, error("VALIDATION_ERROR", 400)),
        "not allowed by §8",
    ),
    "HEAD with an undocumented error": (
        response("HEAD", "/health", 404),
        "HEAD health: status 404",
    ),
    "404 where §8 does not allow it": (
        response("POST", "/v1/sync/acquire", 404, error("DEPLOYMENT_NOT_FOUND", 404)),
        "not allowed by §8",
    ),
    "409 off reconcile": (
        response("POST", "/v1/sync/acquire", 409, error("DEPLOYMENT_LOCKED", 409)),
        "not allowed by §8",
    ),
    "400 on an unknown path": (
        response("GET", "/v2/x", 400, error("VALIDATION_ERROR", 400)),
        "expected 404",
    ),
    "a body that is not JSON": (
        response("DELETE", DEPLOYMENT, 202, content=b"ok", headers={"Content-Type": "text/plain"}),
        "not application/json",
    ),
}


@pytest.mark.parametrize("exchange", CONFORMING.values(), ids=CONFORMING.keys())
def test_accepts_what_the_contract_allows(exchange):
    oas.check(exchange)


@pytest.mark.parametrize(("exchange", "fragment"), VIOLATIONS.values(), ids=VIOLATIONS.keys())
def test_refuses_what_the_contract_does_not(exchange, fragment):
    with pytest.raises(oas.ContractViolation, match=fragment):
        oas.check(exchange)


# -- through the app, with Connexion's response validation off and on ----------------------


def bad_whoami() -> dict[str, Any]:
    return {"kind": "serviceAccount", "id": 5, "scope": {"type": "admin"}}


def whoami_201() -> tuple[dict[str, Any], int]:
    return WHOAMI, 201


def shapeless_404() -> tuple[dict[str, Any], int]:
    return {"error": "gone"}, 404


@pytest.fixture
def build(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An app whose `whoami` is `handler`, with Connexion's response validation as asked."""

    def make(handler: Any, validate_responses: bool) -> Any:
        monkeypatch.setitem(handlers.OPERATIONS, "whoami", handlers.Operation(handler))
        return create_app(dataclasses.replace(settings, validate_responses=validate_responses))

    return make


@pytest.mark.parametrize("validate_responses", [False, True], ids=["connexion off", "connexion on"])
@pytest.mark.parametrize(
    ("handler", "fragment"),
    [(bad_whoami, r"whoami (200|500)"), (whoami_201, r"whoami|201"), (shapeless_404, "whoami")],
    ids=["bad shape", "undocumented status", "error not an AlienError"],
)
def test_a_non_conforming_handler_is_caught(build, admin, handler, fragment, validate_responses):
    """With Connexion's validation off the bad response reaches the client unchanged; with it
    on, Connexion turns some into a 500. Either way the client's check fails the test."""
    with ContractClient(build(handler, validate_responses)) as client:
        with pytest.raises(oas.ContractViolation, match=fragment):
            client.get("/v1/whoami", headers=admin)


def test_schemathesis_runs_the_second_validator(build, admin):
    """The same check runs inside schemathesis (tests/contract/hooks.py): a response that
    schemathesis would otherwise pass still fails the contract run."""
    app = build(bad_whoami, validate_responses=False)
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    case = schema["/v1/whoami"]["GET"].Case()
    with pytest.raises(FailureGroup) as failures:
        case.call_and_validate(headers=admin, app=app)
    assert "openapi_core_conformance" in str(failures.value)
