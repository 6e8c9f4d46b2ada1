"""The second, independent validator: openapi-core against the verbatim openapi.json.

Every response a test client receives passes through `check()`, and every response schemathesis
receives through `check_exchange()` (tests/contract/hooks.py). It shares no code with the
server's own validation (Connexion + app/contract/validation.py); it reads the file, not the overlay.

- A documented status is validated by openapi-core (strict OpenAPI 3.0.3): status, media type
  and body. A success status the spec does not document for the operation is a violation.
- An error status the spec does not document must be one of the deviations docs/behaviour.md §8
  allows (`allowed_undocumented`), for that operation: 401/403 on every secured operation, 400
  only where there is a body or a query, 404/409/413/415 only where §8 names them.
- Every error, documented or not, unknown path included, is the spec's `AlienError`
  (docs/behaviour.md §3): valid against the spec's own schema, `httpStatusCode` equal to the status,
  a code from §3's table that belongs to that status, snake_case `context` keys,
  `WWW-Authenticate: Bearer` on a 401 and an `Allow` header naming the path's methods on a 405.
- A 5xx is a violation, except the one §5.4 prescribes (`BEHAVIOURAL_5XX`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
from jsonschema import Draft4Validator
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from starlette.routing import compile_path
from werkzeug.datastructures import Headers, ImmutableMultiDict

from app.contract.spec import component_schema, operations, raw_spec

BODY_OPERATIONS_WITHOUT_4XX = {
    "create_deployment_group", "initialize", "create_release", "resolve_credentials",
    "operator_sync", "acquire", "reconcile", "release",
}  # fmt: skip
EXTRA_404 = {"create_deployment", "resolve_credentials", "operator_sync", "reconcile"}
#: Operations with the optional query parameters of docs/behaviour.md §4/§5.2 (paging, include[],
#: force): a bad value there is a 400 even where the spec declares no parameter.
EXTENSION_QUERY = {"list_deployment_groups", "list_deployments", "delete_deployment"}
#: Paths outside the API that the server also serves (the telemetry three, §5.5).
NOT_API = (
    "/openapi.json", "/openapi.overlay.json", "/ui", "/metrics", "/console",
    "/v1/logs", "/v1/traces", "/v1/metrics",
)  # fmt: skip
#: docs/behaviour.md §3: every error code and the one status it is sent with.
ERROR_CODES = {
    "UNAUTHORIZED": 401, "FORBIDDEN": 403, "VALIDATION_ERROR": 400, "BAD_REQUEST": 400,
    "MAX_DEPLOYMENTS_REACHED": 400, "DEPLOYMENT_NOT_FOUND": 404,
    "DEPLOYMENT_GROUP_NOT_FOUND": 404, "RELEASE_NOT_FOUND": 404, "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405, "DEPLOYMENT_LOCKED": 409, "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415, "INVALID_client_config": 503, "DATABASE_ERROR": 500,
    "GENERIC_ERROR": 500, "REQUEST_TIMEOUT": 408, "REQUEST_HEADERS_TOO_LARGE": 431,
    "SERVICE_UNAVAILABLE": 503,
}  # fmt: skip
#: The one 5xx that is behaviour, not a crash: the server's own cloud settings are missing.
BEHAVIOURAL_5XX = {("resolve_credentials", "INVALID_client_config")}
SNAKE_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class ContractViolation(AssertionError):
    pass


@dataclass(frozen=True)
class Exchange:
    """One request and its response, whatever client carried them."""

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: bytes | None
    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)

    def header(self, name: str) -> str:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), "")

    def json(self) -> Any:
        return json.loads(self.content)

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> Exchange:
        request = response.request
        return cls(
            method=request.method,
            url=str(request.url),
            request_headers=dict(request.headers),
            request_body=request.content or None,
            status=response.status_code,
            headers=dict(response.headers),
            content=response.content,
        )


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(raw_spec())


Route = tuple[str, dict[str, dict[str, Any]]]


@cache
def _routes() -> list[tuple[Any, str, dict[str, dict[str, Any]]]]:
    by_path: dict[str, dict[str, dict[str, Any]]] = {}
    for path, method, op in operations(raw_spec()):
        by_path.setdefault(path, {})[method] = op
    return [(compile_path(p)[0], p, ops) for p, ops in by_path.items()]


def _route(path: str) -> Route | None:
    return next(((p, ops) for regex, p, ops in _routes() if regex.match(path)), None)


@cache
def _alien_error() -> Draft4Validator:
    return Draft4Validator(component_schema("AlienError"))


def allowed_undocumented(op: dict[str, Any], status: int) -> bool:
    """docs/behaviour.md §8, as a predicate: an error status `op` may answer though the spec does
    not declare it."""
    op_id = op["operationId"]
    secured = op_id != "health"
    has_body = "requestBody" in op
    has_query = any(p["in"] == "query" for p in op.get("parameters", ()))
    has_input = has_body or has_query or op_id in EXTENSION_QUERY
    return (
        (status in (401, 403) and secured)
        or (status == 404 and op_id in EXTRA_404)
        or (status == 400 and (has_input or op_id == "redeploy"))
        or (status == 409 and op_id == "reconcile")
        or (status in (408, 413, 415) and has_body)
    )


class _Request:
    """The request in the shape openapi-core asks for."""

    def __init__(self, exchange: Exchange, pattern: str) -> None:
        url = urlsplit(exchange.url)
        self.host_url = f"{url.scheme}://{url.netloc}"
        self.path = exchange.path
        self.full_url_pattern = self.host_url + pattern
        self.method = exchange.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(url.query, keep_blank_values=True)),
            header=Headers(dict(exchange.request_headers)),
        )
        self.body = exchange.request_body
        self.content_type = exchange.request_headers.get("content-type", "")


class _Response:
    def __init__(self, exchange: Exchange) -> None:
        self.data = exchange.content
        self.status_code = exchange.status
        self.content_type = exchange.header("content-type")
        self.headers = Headers(dict(exchange.headers))


def _is_cors_preflight(exchange: Exchange) -> bool:
    """A preflight the server answered as one (docs/behaviour.md §10): browser protocol, not a
    call of the API. A refused preflight reaches the API and is checked like any OPTIONS."""
    sent = {k.lower() for k in exchange.request_headers}
    return (
        exchange.method == "OPTIONS"
        and {"origin", "access-control-request-method"} <= sent
        and exchange.status == 200
        and bool(exchange.header("access-control-allow-origin"))
    )


def check(response: httpx.Response) -> None:
    """Validate one response a test client received (raises ContractViolation)."""
    check_exchange(Exchange.from_httpx(response))


def check_exchange(exchange: Exchange) -> None:
    path, method = exchange.path, exchange.method.lower()
    if path.startswith(NOT_API) or path == "/" or _is_cors_preflight(exchange):  # "/": the UI
        return
    route = _route(path)
    op = route[1].get("get" if method == "head" else method) if route else None
    if method == "head" and op is not None and exchange.status >= 400:
        # A HEAD error has the GET's status and no body to check.
        if not (
            str(exchange.status) in op["responses"] or allowed_undocumented(op, exchange.status)
        ):
            raise ContractViolation(f"HEAD {op['operationId']}: status {exchange.status}")
        return
    if exchange.status >= 400:
        _check_error(exchange, route, op)
        return
    if op is None:
        raise ContractViolation(f"{exchange.status} for {method.upper()} {path}, not in the spec")
    response = op["responses"].get(str(exchange.status))
    if response is None:
        raise ContractViolation(f"{op['operationId']}: undocumented status {exchange.status}")
    if method == "head":
        return
    if "content" not in response:
        # Deletion, retry, redeploy and release declare no body; §8 allows a JSON one.
        if exchange.content:
            _json_body(exchange, op)
        return
    assert route is not None
    result = _openapi().unmarshal_response(_Request(exchange, route[0]), _Response(exchange))
    if result.errors:
        details = "; ".join(_describe(error) for error in result.errors)
        raise ContractViolation(f"{op['operationId']} {exchange.status}: {details}")


def _describe(error: BaseException) -> str:
    """openapi-core's error, with the schema errors it wraps: where, and what."""
    schema_errors = getattr(error.__cause__, "schema_errors", None) or []
    reasons = [
        f"{'.'.join(map(str, e.absolute_path)) or '<body>'}: {e.message[:200]}"
        for e in schema_errors
    ]
    return f"{type(error).__name__}({'; '.join(reasons) or error})"


def _json_body(exchange: Exchange, op: dict[str, Any] | None) -> Any:
    where = op["operationId"] if op else f"{exchange.method} {exchange.path}"
    if not exchange.header("content-type").startswith("application/json"):
        raise ContractViolation(f"{where} {exchange.status}: body is not application/json")
    try:
        return exchange.json()
    except ValueError as exc:
        raise ContractViolation(f"{where} {exchange.status}: body is not JSON: {exc}") from None


def _check_error(exchange: Exchange, route: Route | None, op: dict[str, Any] | None) -> None:
    status = exchange.status
    where = op["operationId"] if op else f"{exchange.method} {exchange.path}"
    body = _json_body(exchange, op)
    errors = sorted(_alien_error().iter_errors(body), key=str)
    if errors:
        raise ContractViolation(f"{where} {status}: not an AlienError: {errors[0].message}")
    code = body["code"]
    behavioural = op is not None and (op["operationId"], code) in BEHAVIOURAL_5XX
    if status >= 500 and not behavioural:
        raise ContractViolation(f"{where} {status}: {exchange.content[:500]!r}")
    if body["httpStatusCode"] != status:
        raise ContractViolation(f"{where}: httpStatusCode {body['httpStatusCode']} != {status}")
    if ERROR_CODES.get(code) != status:
        raise ContractViolation(f"{where} {status}: code {code!r} does not go with this status")
    if not all(SNAKE_CASE.match(key) for key in body.get("context") or {}):
        raise ContractViolation(f"{where} {status}: context keys are not snake_case")
    if status == 401 and exchange.header("www-authenticate") != "Bearer":
        raise ContractViolation(f"{where}: 401 without `WWW-Authenticate: Bearer`")
    if status == 405:
        _check_allow(exchange, route)
    if op is not None:
        documented = str(status) in op["responses"]
        if not (documented or behavioural or allowed_undocumented(op, status)):
            raise ContractViolation(f"{op['operationId']}: status {status} is not allowed by §8")
    elif route is None and status != 404:
        raise ContractViolation(f"{status} for unknown path {exchange.path} (expected 404)")
    elif route is not None and status not in (404, 405):
        raise ContractViolation(f"{status} for {exchange.method} {exchange.path} (expected 405)")


def _check_allow(exchange: Exchange, route: Route | None) -> None:
    if route is None:
        raise ContractViolation(f"405 for unknown path {exchange.path}")
    declared = {m.upper() for m in route[1]} | ({"HEAD"} if "get" in route[1] else set())
    allowed = {m.strip() for m in exchange.header("allow").split(",") if m.strip()}
    if allowed != declared:
        raise ContractViolation(f"405 Allow {sorted(allowed)} != spec {sorted(declared)}")
