"""app/http/lean.py moves Connexion's per-operation work out of the request; it must not change
what any request or response comes to. Every operation of the spec goes through Connexion's
own validation operation and the lean one, with the same requests (content types, bodies,
parameters) and the same responses (statuses, content types, bodies), and both must hand on
exactly the same thing or refuse with exactly the same problem."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from typing import Any

import pytest
from connexion.middleware.request_validation import RequestValidationOperation
from connexion.middleware.response_validation import ResponseValidationOperation
from starlette.testclient import TestClient

from app.http.lean import (
    LeanFlaskASGIApp,
    LeanRequestValidationMiddleware,
    LeanRequestValidationOperation,
    LeanResponseValidationMiddleware,
    LeanResponseValidationOperation,
)

CONTENT_TYPES = [
    None,
    b"application/json",
    b"application/json; charset=utf-8",
    b"APPLICATION/JSON",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"application/problem+json",
]
REQUEST_BODIES = [b"", b"{}", b'{"name": 1}', b'{"name": "a", "platform": "aws"}', b"[]",
                  b"null", b"not json", b'{"a": NaN}']  # fmt: skip
QUERIES = [b"", b"limit=5", b"limit=abc", b"limit=0", b"cursor=x&limit=2000", b"force=maybe",
           b"include=deploymentGroup", b"Limit=3"]  # fmt: skip
STATUSES = [200, 201, 204, 400, 401, 404, 409, 418, 500, 503]
ALIEN_ERROR = (b'{"code":"NOT_FOUND","message":"x","retryable":false,"internal":false,'
               b'"httpStatusCode":404}')  # fmt: skip
RESPONSE_BODIES = [b"", b"{}", b"[]", b"null", b"x", ALIEN_ERROR, b'{"status":"healthy"}']


def operations(app: Any, middleware_class: type) -> dict[str, Any]:
    """The routed operations of the started app's middleware of `middleware_class`, by id."""
    found: list[Any] = [m for m in app.middleware.middleware_stack if type(m) is middleware_class]
    assert len(found) == 1
    return {
        op_id: op for apis in found[0].apis.values() for api in apis
        for op_id, op in api.operations.items()
    }  # fmt: skip


@pytest.fixture
def started(app: Any) -> Any:
    with TestClient(app):
        yield app


LOOP = asyncio.new_event_loop()


def outcome(run: Coroutine[Any, Any, Any]) -> tuple[Any, ...]:
    try:
        return ("handed on", LOOP.run_until_complete(run))
    except Exception as exc:  # the problem must be the same one, word for word
        return ("refused", type(exc).__name__, str(exc), getattr(exc, "detail", None),
                getattr(exc, "status_code", None), getattr(exc, "errors", None))  # fmt: skip


def request_scope(op: Any, content_type: bytes | None, body: bytes, query: bytes) -> dict[str, Any]:
    headers = [(b"host", b"test")]
    if content_type is not None:
        headers.append((b"content-type", content_type))
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    path_params = {p["name"]: "x1" for p in op.parameters if p["in"] == "path"}
    return {"type": "http", "method": op.method.upper(), "path": "/p", "raw_path": b"/p",
            "query_string": query, "headers": headers, "path_params": path_params,
            "root_path": "", "scheme": "http", "server": ("test", 80), "extensions": {}}  # fmt: skip


async def through_request(operation: Any, scope: dict[str, Any], body: bytes) -> Any:
    handed: dict[str, Any] = {}

    async def next_app(scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        handed.update(headers=scope["headers"], query=scope["query_string"], body=b"".join(chunks))

    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    operation.next_app = next_app
    await operation(scope, receive, None)
    return handed


def test_request_validation_is_connexions(started: Any) -> None:
    lean = operations(started, LeanRequestValidationMiddleware)
    assert len(lean) >= 22
    compared = refused = 0
    for op_id, ours in lean.items():
        assert type(ours) is LeanRequestValidationOperation
        op = ours._operation
        theirs = RequestValidationOperation(
            ours.next_app, operation=op, strict_validation=ours.strict_validation,
            validator_map=ours._validator_map,
        )  # fmt: skip
        bodies = REQUEST_BODIES if op.request_body else [b""]
        queries = QUERIES if any(p["in"] == "query" for p in op.parameters) else [b""]
        for content_type, body, query in itertools.product(CONTENT_TYPES, bodies, queries):
            scope = request_scope(op, content_type, body, query)
            expected = outcome(through_request(theirs, dict(scope), body))
            got = outcome(through_request(ours, dict(scope), body))
            assert got == expected, (op_id, content_type, body, query)
            compared += 1
            refused += expected[0] == "refused"
    assert compared > 500 and 100 < refused < compared  # both kinds of outcome were compared


async def through_response(
    operation: Any, status: int, content_type: bytes | None, body: bytes
) -> list[Any]:
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def next_app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-length", str(len(body)).encode())]
        if content_type is not None:
            headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    operation.next_app = next_app
    await operation({"type": "http", "method": "GET", "path": "/p", "headers": []}, None, send)
    return sent


def test_response_validation_is_connexions(started: Any) -> None:
    lean = operations(started, LeanResponseValidationMiddleware)
    assert len(lean) >= 22
    compared = refused = 0
    for op_id, ours in lean.items():
        assert type(ours) is LeanResponseValidationOperation
        theirs = ResponseValidationOperation(
            ours.next_app, operation=ours._operation, validator_map=ours._validator_map
        )
        for status, content_type, body in itertools.product(
            STATUSES, CONTENT_TYPES, RESPONSE_BODIES
        ):
            for _ in range(2):  # the second time from what the lean one remembered
                expected = outcome(through_response(theirs, status, content_type, body))
                got = outcome(through_response(ours, status, content_type, body))
                assert got == expected, (op_id, status, content_type, body)
            compared += 1
            refused += expected[0] == "refused"
    assert compared > 1000 and 100 < refused < compared


def test_the_app_serves_through_the_lean_classes(started: Any) -> None:
    """What the comparisons above stand for is what the app runs."""
    assert type(started._middleware_app) is LeanFlaskASGIApp
    assert operations(started, LeanRequestValidationMiddleware)
    assert operations(started, LeanResponseValidationMiddleware)


def test_a_handler_is_decorated_once_and_gets_each_requests_own_arguments(
    client: Any, admin: dict[str, str]
) -> None:
    import connexion.decorators.main as decorators

    names = [f"group-{i}" for i in range(3)]
    calls = 0
    original = decorators.BaseDecorator.decorate

    def counting(self: Any, function: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, function)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(decorators.BaseDecorator, "decorate", counting)
        made = [
            client.post(
                "/v1/deployment-groups", json={"name": n, "maxDeployments": 5}, headers=admin
            )
            for n in names
        ]
        read = [client.get(f"/v1/deployment-groups/{r.json()['id']}", headers=admin) for r in made]
    assert [r.status_code for r in made] == [200] * 3
    assert [r.json()["name"] for r in read] == names
    assert calls == 2  # once per operation (create, get), not once per request


def test_swagger_ui_passes_on_what_its_routes_cannot_match_as_its_router_does(
    started: Any,
) -> None:
    from connexion.middleware.swagger_ui import SwaggerUIMiddleware

    from app.http.lean import LeanSwaggerUIMiddleware

    (ours,) = [m for m in started.middleware.middleware_stack if type(m) is LeanSwaggerUIMiddleware]
    assert ours.prefixes() == ("/ui",)

    def theirs(*args: Any) -> Any:  # Connexion's own __call__, on the same router and next app
        return SwaggerUIMiddleware.__call__(ours, *args)

    paths = ["/v1/deployments", "/v1/deployments/x", "/health", "/u", "/", "/openapi.json",
             "/v1/whoami/", "/uix", "/ui", "/ui/", "/ui/index.html", "/ui/swagger-ui.css"]  # fmt: skip
    for path in paths:

        async def through(call: Any, path: str = path) -> tuple[Any, ...]:
            seen: list[Any] = []
            sent: list[Any] = []

            async def next_app(scope: Any, receive: Any, send: Any) -> None:
                seen.append((scope["path"], scope.get("root_path"), scope["method"]))

            received: list[bool] = []

            async def receive() -> dict[str, Any]:
                if received:  # a response waiting for a disconnect waits until it is done
                    await asyncio.Event().wait()
                received.append(True)
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message: Any) -> None:
                sent.append(message.get("status"))

            ours.app = next_app
            scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
                     "root_path": "", "query_string": b"", "headers": [(b"host", b"t")],
                     "scheme": "http", "server": ("t", 80)}  # fmt: skip
            await call(scope, receive, send)
            return tuple(seen), tuple(sent)

        assert outcome(through(ours)) == outcome(through(theirs)), path
