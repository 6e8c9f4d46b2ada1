"""ASGI middleware: request ids, the access log and the request metrics; CORS; HEAD; the body
deadline; and the gate of what a request head alone decides (the path, form bodies, JSON by
default, the body limit). Few layers, each one pass: every layer is paid on every request."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable

from connexion.exceptions import ProblemException
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import REQUEST_ID

log = logging.getLogger("alien.access")

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
FORM_TYPES = (b"multipart/", b"application/x-www-form-urlencoded")
Observer = Callable[[Scope, int, float], None]


class RequestLog:
    """One log line per request (method, path, status, duration, request id); the id is
    echoed as `X-Request-Id` and set in `REQUEST_ID` for every line logged while the request
    runs. Headers, and so tokens, are never logged. Outermost, so it sees the final status of
    error responses too, and hands each answered request to `observe` (the metrics).

    A request id the client did not send is a random prefix drawn per app, the process id (a
    forked worker of a preloaded app has the same prefix and counter) and a counter: as unique
    as a uuid4, without asking the system for randomness on every request."""

    def __init__(self, app: ASGIApp, observe: Observer | None = None) -> None:
        self.app = app
        self.observe = observe
        self.prefix = secrets.token_hex(4)
        self.count = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("extensions", {})  # shared with the copies routing makes (metrics)
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        if not SANE_REQUEST_ID.match(incoming):
            incoming = f"{self.prefix}{os.getpid():08x}{next(self.count):016x}"
        request_id = incoming
        reset = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            if self.observe is not None:
                self.observe(scope, status, seconds)
            path = CONTROL.sub("?", scope["path"])
            duration_ms = round(seconds * 1000, 1)
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                path,
                status,
                duration_ms,
                extra={"method": scope["method"], "path": path, "status": status,
                       "duration_ms": duration_ms},
            )  # fmt: skip
            REQUEST_ID.reset(reset)


class Cors(CORSMiddleware):
    """Cross-origin calls from browser dashboards (docs/behaviour.md §10), as the reference's
    `CorsLayer::permissive()` by default: any origin, method and header, every header exposed.

    A preflight from an origin that is not allowed is not answered as one (Starlette would send
    a plain-text 400): it reaches the API like any OPTIONS request, which answers 405 with an
    AlienError, and the browser, finding no `Access-Control-Allow-Origin`, blocks the call.
    """

    def __init__(self, app: ASGIApp, origins: tuple[str, ...]) -> None:
        super().__init__(
            app,
            allow_origins=origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["*"],
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if (
                origin is not None
                and "access-control-request-method" in headers
                and not self.is_allowed_origin(origin)
            ):
                await self.app(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class RequestGate:
    """What the request head alone decides, in one pass before Connexion sees the request:

    - a control character in the path is a 404: Connexion's router cannot match such a path,
      and Flask would route it without the operation context (a 500);
    - a form body (`multipart/*`, `application/x-www-form-urlencoded`) is a 415 before anything
      reads it (docs/behaviour.md §12): no operation takes one, and Connexion's form validators
      would otherwise read and parse it first, holding the worker while a client trickles it;
    - a body sent without Content-Type is taken as JSON, the only type this API consumes:
      Connexion already validates such a body as JSON, but Flask would then hand the handler
      the raw bytes; naming the type once, here, makes both layers agree;
    - a body over `max_bytes` is a 413, declared (Content-Length) or streamed (chunked). A
      chunked body is read here, up to the limit, and handed on with its Content-Length set:
      Connexion's validators take a request without Content-Length to have no body at all.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> ProblemException:
        return ProblemException(
            status=413, title="Payload Too Large",
            detail=f"Request body exceeds the limit of {self.max_bytes} bytes",
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if CONTROL.search(scope["path"]):
            raise ProblemException(status=404, title="Not Found", detail="Not found")
        headers = dict(scope["headers"])
        if not _has_body(headers):
            await self.app(scope, receive, send)
            return
        content_type = headers.get(b"content-type")
        if content_type is None:
            typed = [*scope["headers"], (b"content-type", b"application/json")]
            scope = {**scope, "headers": typed}
        elif content_type.split(b";")[0].strip().lower().startswith(FORM_TYPES):
            raise ProblemException(
                status=415, title="Unsupported Media Type",
                detail="Form bodies are not accepted; send application/json",
            )  # fmt: skip
        declared = headers.get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise self._too_large()
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        body = await self._read_bounded(receive)
        scope = dict(scope)
        scope["headers"] = [
            *((k, v) for k, v in scope["headers"] if k != b"transfer-encoding"),
            (b"content-length", str(len(body)).encode()),
        ]
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read_bounded(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


class HeadAsGet:
    """HEAD is GET without the body: the handler and the validators see a GET, the client gets
    its headers (Content-Length included) and no body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length", b"0") not in (b"0", b"")
    return declared or b"transfer-encoding" in headers


class BodyDeadline:
    """The whole request body must arrive within `seconds` of its head, else 408 and the
    connection closes (docs/behaviour.md §12). Every reader of the body (the body limit,
    Connexion's validators) reads through this deadline; the 408 is raised from `receive` and
    rendered by the error handlers like any other problem.

    A response that starts before the body has fully arrived (a 408, 413, 415, or a handler
    that ignored the body) says `Connection: close`, so an unread remainder never holds the
    connection. Sits outside Connexion's exception middleware to see those responses too."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(dict(scope["headers"])):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        complete = False

        async def receive_in_time() -> Message:
            nonlocal complete
            if complete:  # only a disconnect is left to wait for: no deadline on that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0))
            except TimeoutError:
                raise ProblemException(
                    status=408, title="Request Timeout",
                    detail=f"The request body did not arrive within {self.seconds:g} seconds",
                ) from None  # fmt: skip
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                message = {
                    **message,
                    "headers": [*message.get("headers", []), (b"connection", b"close")],
                }
            await send(message)

        await self.app(scope, receive_in_time, send_closing)
