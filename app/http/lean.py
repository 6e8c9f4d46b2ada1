"""Connexion's per-request work that depends only on the operation, done once per operation.

Connexion 3.3 rebuilds on every request what only the operation decides. Its request validation
builds two URI parsers and a parameter validator, a media-type table for the Content-Type
check, and re-reads the body's definition; its response validation builds a media-type table
and looks the response definition up twice; and Flask's view of an operation re-decorates the
handler on every call (`inspect.signature` included), builds another URI parser and asks
werkzeug for uploaded files; and Swagger UI's router tries its routes on every API request.
Profiled, that was about a seventh of a GET (docs/performance.md).

The subclasses here keep each of those per operation (per media type, per status) and then do
what Connexion does with them, in the same order, raising the same problems: only where the
work happens changes. tests/app/http/test_lean.py runs every operation of the spec through
Connexion's classes and these with the same requests and responses and compares what comes out.

`install(app)` swaps them in after every middleware is added and before the stack is built:
Connexion places middleware by comparing classes, so test mode's `BEFORE_VALIDATION` must find
Connexion's own class first.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, MutableMapping
from typing import Any

from connexion import FlaskApp, utils
from connexion.apps.flask import FlaskApi, FlaskASGIApp, FlaskOperation
from connexion.datastructures import MediaTypeDict
from connexion.decorators import FlaskDecorator
from connexion.decorators.parameter import SyncParameterDecorator, prep_kwargs, unwrap_decorators
from connexion.exceptions import NonConformingResponseHeaders
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.response_validation import (
    ResponseValidationAPI,
    ResponseValidationMiddleware,
    ResponseValidationOperation,
)
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from connexion.utils import inspect_function_arguments
from starlette.types import Receive, Scope, Send

logger = logging.getLogger("connexion.middleware.validation")  # Connexion's, for its lines

#: Distinct Content-Type values remembered per operation; more (a client inventing them) start
#: the table over.
MAX_REMEMBERED = 64
MULTIPART = "multipart/form-data"


def _content_type(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for key, value in headers:
        if key.lower() == b"content-type":
            return value
    return None


class _Remembered(dict[Any, Any]):
    """A small table of per-value answers, started over when a client floods it."""

    def remember(self, key: Any, value: Any) -> Any:
        if len(self) >= MAX_REMEMBERED:
            self.clear()
        self[key] = value
        return value


def _split(cache: _Remembered, raw: bytes | None, default: str) -> tuple[str, str]:
    """(mime type, encoding) of a Content-Type value, as Connexion's `extract_content_type`."""
    hit = cache.get(raw)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    mime_type, encoding = utils.split_content_type(None if raw is None else raw.decode("latin-1"))
    return cache.remember(raw, (mime_type or default, encoding or "utf-8"))  # type: ignore[no-any-return]


class LeanRequestValidationOperation(RequestValidationOperation):  # type: ignore[misc]  # an untyped library's class
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        op = self._operation
        self._uri_parser = op._uri_parser_class(op.parameters, op.body_definition())
        self._parameters = self._validator_map["parameter"](
            op.parameters,
            uri_parser=self._uri_parser,
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._types = _Remembered()
        self._bodies = _Remembered()
        self._default_type = op.consumes[0] if op.consumes else "application/octet-stream"

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        return _split(self._types, _content_type(headers), self._default_type)

    def _body_plan(self, mime_type: str) -> tuple[Any, dict[str, Any]] | None:
        """What validates a body of `mime_type`: (validator class, its arguments but the
        encoding), or None (no schema, or no validator for the type); after the type check."""
        if mime_type in self._bodies:
            return self._bodies[mime_type]  # type: ignore[no-any-return]
        self.validate_mime_type(mime_type)  # raises for a type the operation does not take
        op = self._operation
        plan = None
        schema = op.body_schema(mime_type)
        if schema:
            try:
                validator_class = self._validator_map["body"][mime_type]
            except KeyError:
                pass
            else:
                arguments = {
                    "schema": schema,
                    "required": op.request_body.get("required", False),
                    "nullable": utils.is_nullable(op.body_definition(mime_type)),
                    "strict_validation": self.strict_validation,
                    "uri_parser": self._uri_parser,
                }
                plan = (validator_class, arguments)
        remembered: tuple[Any, dict[str, Any]] | None = self._bodies.remember(mime_type, plan)
        return remembered

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameters.validate(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        plan = self._body_plan(mime_type)
        if plan is None:
            if self._operation.body_schema(mime_type):
                logger.info(
                    f"Skipping validation. No validator registered for content type: {mime_type}."
                )
        else:
            validator_class, arguments = plan
            validator = validator_class(encoding=encoding, **arguments)
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)


class LeanResponseValidationOperation(ResponseValidationOperation):  # type: ignore[misc]  # an untyped library's class
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        op = self._operation
        self._types = _Remembered()
        self._produced = MediaTypeDict([(p.lower(), None) for p in op.produces])
        self._produced_types = _Remembered()
        self._plans = _Remembered()
        self._default_type = op.produces[0] if op.produces else "application/octet-stream"

    def extract_content_type(self, headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
        return _split(self._types, _content_type(headers), self._default_type)

    def validate_mime_type(self, mime_type: str) -> None:
        produced = self._produced_types.get(mime_type)
        if produced is None:
            produced = self._produced_types.remember(
                mime_type, not self._operation.produces or mime_type.lower() in self._produced
            )
        if not produced:
            raise NonConformingResponseHeaders(
                detail=f"Invalid Response Content-type ({mime_type}), "
                f"expected {self._operation.produces}",
            )

    def _plan(self, status: str, mime_type: str) -> tuple[set[str], Any, dict[str, Any]]:
        """(required header names, validator class or None, its arguments but the encoding)."""
        key = (status, mime_type)
        hit = self._plans.get(key)
        if hit is not None:
            return hit  # type: ignore[no-any-return]
        op = self._operation
        definition = op.response_definition(status, mime_type)
        required = {
            k.lower() for k, v in definition.get("headers", {}).items() if v.get("required", False)
        }
        validator_class = None
        arguments: dict[str, Any] = {}
        try:
            validator_class = self._validator_map["response"][mime_type]
        except KeyError:
            pass
        else:
            arguments = {
                "schema": op.response_schema(status, mime_type),
                "nullable": utils.is_nullable(definition),
            }
        return self._plans.remember(key, (required, validator_class, arguments))  # type: ignore[no-any-return]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def wrapped_send(message: MutableMapping[str, Any]) -> None:
            nonlocal send
            if message["type"] == "http.response.start":
                headers = message["headers"]
                mime_type, encoding = self.extract_content_type(headers)
                if message["status"] < 400:
                    self.validate_mime_type(mime_type)
                required, validator_class, arguments = self._plan(str(message["status"]), mime_type)
                if required:
                    self._check_headers(headers, required)
                if validator_class is None:
                    logger.info(
                        "Skipping validation. No validator registered for content type: "
                        f"{mime_type}."
                    )
                else:
                    validator = validator_class(scope, encoding=encoding, **arguments)
                    send = validator.wrap_send(send)
            await send(message)

        await self.next_app(scope, receive, wrapped_send)

    @staticmethod
    def _check_headers(headers: list[tuple[bytes, bytes]], required: set[str]) -> None:
        """Connexion's `validate_required_headers`, with the required names known already."""
        present = {name.decode("latin-1").lower() for name, _ in headers}
        missing = required - present
        if missing:
            raise NonConformingResponseHeaders(
                detail="Keys in response header don't match response specification. "
                f"Difference: {', '.join(missing)}"
            )


class LeanRequestValidationAPI(RequestValidationAPI):  # type: ignore[misc]  # an untyped library's class
    def make_operation(self, operation: Any) -> LeanRequestValidationOperation:
        return LeanRequestValidationOperation(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class LeanResponseValidationAPI(ResponseValidationAPI):  # type: ignore[misc]  # an untyped library's class
    def make_operation(self, operation: Any) -> Any:
        if not self.validate_responses:
            return self.next_app
        return LeanResponseValidationOperation(
            self.next_app, operation=operation, validator_map=self.validator_map
        )


class LeanRequestValidationMiddleware(RequestValidationMiddleware):  # type: ignore[misc]  # an untyped library's class
    api_cls = LeanRequestValidationAPI


class LeanResponseValidationMiddleware(ResponseValidationMiddleware):  # type: ignore[misc]  # an untyped library's class
    api_cls = LeanResponseValidationAPI


class LeanSyncParameterDecorator(SyncParameterDecorator):  # type: ignore[misc]  # an untyped library's class
    """Connexion's handler arguments, with each name's Python name remembered, and without
    asking werkzeug for uploaded files where there cannot be any: files come only from a
    `multipart/form-data` body (which this server refuses before it gets here,
    app/http/gate.py), and werkzeug's form parsing machinery cost a GET a fiftieth of its time
    to find none."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A name's Python name never changes: inflection's regexes ran for every parameter
        # of every request. Bounded, as the names come from clients.
        named: Callable[[str], str] = self.sanitize_fn  # type: ignore[has-type]
        self.sanitize_fn = functools.lru_cache(maxsize=1024)(named)

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        arguments, has_kwargs = inspect_function_arguments(unwrap_decorators(function))

        @functools.wraps(function)
        def wrapper(request: Any) -> Any:
            request_body = self._maybe_get_body(request, arguments=arguments, has_kwargs=has_kwargs)
            kwargs = prep_kwargs(
                request,
                request_body=request_body,
                files=request.files() if request.mimetype == MULTIPART else {},
                arguments=arguments,
                has_kwargs=has_kwargs,
                sanitize=self.sanitize_fn,
            )
            return function(**kwargs)

        return wrapper


class LeanFlaskDecorator(FlaskDecorator):  # type: ignore[misc]  # an untyped library's class
    """Connexion's decorator of a handler, decorating it once (at its first request, where the
    operation's context is set) instead of on every request."""

    @property
    def _parameter_decorator_cls(self) -> type[SyncParameterDecorator]:
        return LeanSyncParameterDecorator

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        made: list[tuple[Any, Callable[..., Any]]] = []

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not made:
                made.append((self.uri_parser, self.decorate(function)))
            uri_parser, decorated = made[0]
            return decorated(self.framework.get_request(uri_parser=uri_parser))

        return wrapper


class LeanFlaskOperation(FlaskOperation):  # type: ignore[misc]  # an untyped library's class
    @functools.cached_property
    def fn(self) -> Callable[..., Any]:
        decorator = LeanFlaskDecorator(
            pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )
        return decorator(self._fn)


class LeanFlaskApi(FlaskApi):  # type: ignore[misc]  # an untyped library's class
    def make_operation(self, operation: Any) -> LeanFlaskOperation:
        return LeanFlaskOperation.from_operation(  # type: ignore[no-any-return]
            operation, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )


class LeanFlaskASGIApp(FlaskASGIApp):  # type: ignore[misc]  # an untyped library's class
    def add_api(self, specification: Any, *, name: str | None = None, **kwargs: Any) -> Any:
        api = LeanFlaskApi(specification, **kwargs)
        if name is not None:
            self.app.register_blueprint(api.blueprint, name=name)
        else:
            self.app.register_blueprint(api.blueprint)
        return api


class LeanSwaggerUIMiddleware(SwaggerUIMiddleware):  # type: ignore[misc]  # an untyped library's class
    """Connexion's Swagger UI routes; a path none of them can match goes straight on, as the
    router would send it after trying each route of two routers and a mount (`default_fn`:
    the same scope to the next app)."""

    _prefixes: tuple[str, ...] | None = None

    def prefixes(self) -> tuple[str, ...]:
        """The static start of every path the UI's routes can match (read once they exist)."""
        if self._prefixes is None:
            starts = set()
            for mount in self.router.routes:
                for route in getattr(mount, "routes", ()):
                    starts.add(mount.path + route.path.split("{", 1)[0])
            self._prefixes = tuple(
                sorted(p for p in starts if not any(p.startswith(q) for q in starts - {p}))
            )
        return self._prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.prefixes()):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


LEAN = {
    SwaggerUIMiddleware: LeanSwaggerUIMiddleware,
    RequestValidationMiddleware: LeanRequestValidationMiddleware,
    ResponseValidationMiddleware: LeanResponseValidationMiddleware,
}


def install(app: FlaskApp) -> None:
    """Swap the lean classes into `app`: after its last `add_middleware`, before it serves."""
    middleware = app.middleware
    assert middleware.middleware_stack is None, "install before the app is started"
    middleware.middlewares = [LEAN.get(m, m) for m in middleware.middlewares]
    flask_asgi = app._middleware_app
    assert type(flask_asgi) is FlaskASGIApp, "Connexion's FlaskApp builds its Flask app so"
    flask_asgi.__class__ = LeanFlaskASGIApp  # only add_api differs: no state of its own
