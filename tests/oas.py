"""The second, independent validator: openapi-core against the verbatim openapi.json.

Every response a test client receives passes through `check()`. A status the spec documents
for the operation is validated by openapi-core (strict OpenAPI 3.0.3, not Connexion's code); a
status it does not document must be one of the deviations BEHAVIOUR.md §8 allows, with an
AlienError body valid against the spec's own schema.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import httpx
from jsonschema import Draft4Validator
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from starlette.routing import compile_path
from werkzeug.datastructures import Headers, ImmutableMultiDict

from app.spec import component_schema, operations, raw_spec

BODY_OPERATIONS_WITHOUT_4XX = {
    "create_deployment_group", "initialize", "create_release", "resolve_credentials",
    "operator_sync", "acquire", "reconcile", "release",
}  # fmt: skip
EXTRA_404 = {"create_deployment", "resolve_credentials", "operator_sync", "reconcile"}
#: Paths outside the API that the server also serves.
NOT_API = ("/openapi.json", "/ui")


class ContractViolation(AssertionError):
    pass


@cache
def _openapi() -> OpenAPI:
    return OpenAPI.from_dict(raw_spec())


@cache
def _routes() -> list[tuple[Any, str, dict[str, dict[str, Any]]]]:
    by_path: dict[str, dict[str, dict[str, Any]]] = {}
    for path, method, op in operations(raw_spec()):
        by_path.setdefault(path, {})[method] = op
    return [(compile_path(p)[0], p, ops) for p, ops in by_path.items()]


@cache
def _alien_error() -> Draft4Validator:
    return Draft4Validator(component_schema("AlienError"))


def allowed_undocumented(op: dict[str, Any], status: int) -> bool:
    """BEHAVIOUR.md §8, as a predicate."""
    op_id = op["operationId"]
    secured = op_id != "health"
    has_body = "requestBody" in op
    return (
        (status == 401 and secured)
        or (status == 403 and secured)
        or (status == 404 and op_id in EXTRA_404)
        or (status == 400 and (has_body or op.get("parameters") or secured))
        or (status == 409 and op_id == "reconcile")
        or (status in (413, 415) and has_body)
        or status == 500
    )


class _Request:
    def __init__(self, request: httpx.Request, pattern: str) -> None:
        self.host_url = f"{request.url.scheme}://{request.url.netloc.decode()}"
        self.path = request.url.path
        self.full_url_pattern = self.host_url + pattern
        self.method = request.method.lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(dict(request.headers)),
        )
        self.body = request.content or None
        self.content_type = request.headers.get("content-type", "")


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.data = response.content
        self.status_code = response.status_code
        self.content_type = response.headers.get("content-type", "")
        self.headers = Headers(dict(response.headers))


def check(response: httpx.Response) -> None:
    request = response.request
    path, method = request.url.path, request.method.lower()
    if path.startswith(NOT_API):
        return
    status = response.status_code
    match = next(((p, ops) for regex, p, ops in _routes() if regex.match(path)), None)
    if status >= 400 or match is None or method not in match[1]:
        _check_error(response, match, method)
        return
    pattern, ops = match
    op = ops[method]
    if str(status) not in op["responses"]:
        raise ContractViolation(f"{op['operationId']}: undocumented success status {status}")
    if "content" not in op["responses"][str(status)]:
        # Deletion, retry, redeploy and release declare no body; §8 allows a JSON one.
        if response.content:
            json.loads(response.content)
        return
    result = _openapi().unmarshal_response(_Request(request, pattern), _Response(response))
    if result.errors:
        raise ContractViolation(f"{op['operationId']} {status}: {result.errors}")


def _check_error(
    response: httpx.Response, match: tuple[str, dict[str, Any]] | None, method: str
) -> None:
    status = response.status_code
    if status >= 500 and status != 501:
        raise ContractViolation(
            f"{status} from {method.upper()} {response.request.url.path}: {response.text}"
        )
    if not response.headers.get("content-type", "").startswith("application/json"):
        raise ContractViolation(f"{status} error without a JSON body")
    body = response.json()
    errors = sorted(_alien_error().iter_errors(body), key=str)
    if errors:
        raise ContractViolation(f"{status} body is not an AlienError: {errors[0].message}")
    if body.get("httpStatusCode") != status:
        raise ContractViolation(f"httpStatusCode {body.get('httpStatusCode')} != status {status}")
    if match is not None and method in match[1]:
        op = match[1][method]
        if str(status) not in op["responses"] and not allowed_undocumented(op, status):
            raise ContractViolation(f"{op['operationId']}: status {status} is not allowed by §8")
