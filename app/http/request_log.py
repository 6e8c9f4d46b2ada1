"""The access log, request ids and the request metrics: the outermost layer."""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("alien.access")

#: The id of the request being answered, for every line logged while it runs (a contextvar,
#: so it follows the request into worker threads); app/serving/logs.py stamps it on records.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
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
