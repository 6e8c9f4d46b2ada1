"""`/console` (docs/behaviour.md §12): the page, its two static files, and the two reads it
polls, answered before Connexion routes anything, as `/_test/*`.

The page and its files need no token (they hold no data). Each read checks the bearer token as
the API does (`app.http.auth.authenticate`, with the API's cache) and answers with a strong
ETag of its body: the page sends it back as `If-None-Match` and gets a bodiless 304 while
nothing changed. Everything is GET (HEAD too, as everywhere); nothing here writes.
"""

from __future__ import annotations

import hashlib
import json
from importlib.resources import files
from typing import Any

from connexion.exceptions import ProblemException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, QueryParams
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.console import snapshot
from app.http.auth import TokenCache, authenticate
from app.settings import Settings
from models import clock
from models.db import request_connection
from models.overview import Filters
from models.tokens import Caller

PAGE, STATE, HISTORY = "/console", "/console/api/state", "/console/api/history"
STATIC = {
    "/console/console.js": "text/javascript; charset=utf-8",
    "/console/console.css": "text/css; charset=utf-8",
    "/console/favicon.svg": "image/svg+xml",
}
#: The page loads nothing but its own two files, and calls only this server.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
#: A read differs by token and must be checked again each time.
NOW = "X-Console-Now"
READ_HEADERS = {"Cache-Control": "no-cache, private", "Vary": "Authorization"}


def _file(name: str) -> bytes:
    return (files("app.console") / "static" / name).read_bytes()


class Console:
    """The console's routes; every other path goes on to the app."""

    def __init__(self, app: ASGIApp, settings: Settings, cache: TokenCache) -> None:
        self.app = app
        self.settings = settings
        self.cache = cache
        self.files = {PAGE: (_file("console.html"), "text/html; charset=utf-8")} | {
            path: (_file(path.rsplit("/", 1)[1]), kind) for path, kind in STATIC.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path != PAGE and not path.startswith(PAGE + "/"):
            await self.app(scope, receive, send)
            return
        if path not in self.files and path not in (STATE, HISTORY):
            raise ProblemException(status=404, title="Not Found", detail="Not found")
        if scope["method"] != "GET":
            raise ProblemException(
                status=405,
                title="Method Not Allowed",
                detail=f"Method {scope['method']} not allowed; allowed: GET",
                headers={"Allow": "GET"},
            )
        headers = Headers(scope=scope)
        if path in self.files:
            body, kind = self.files[path]
            extra = PAGE_HEADERS if path == PAGE else {}
            response = _tagged(body, kind, headers, {"Cache-Control": "no-cache", **extra})
        else:
            caller = await authenticate(
                headers.get("authorization"), self.settings.dev_mode, self.cache
            )
            query = QueryParams(scope["query_string"])
            read, now = await run_in_threadpool(self._read, path, caller, query)
            body = json.dumps(read, separators=(",", ":")).encode()
            # The server's clock beside the body, not in it (the body's ETag would change every
            # time): the page ages leases by it, the test clock's shift included.
            response = _tagged(body, "application/json", headers, READ_HEADERS | {NOW: now})
        await response(scope, receive, send)

    def _read(self, path: str, caller: Caller, query: QueryParams) -> tuple[Any, str]:
        with request_connection():
            now = clock.now()
            at = now.isoformat(timespec="microseconds")
            if path == HISTORY:
                return snapshot.history(caller, query.get("deployment", "")), at
            filters = Filters(
                group=query.get("group") or None,
                status=query.get("status") or None,
                platform=query.get("platform") or None,
            )
            return snapshot.state(caller, filters, self.settings, now), at


def _tagged(body: bytes, kind: str, request: Headers, headers: dict[str, str]) -> Response:
    """`body` with its ETag, or a bodiless 304 when the client already has it."""
    etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
    headers = {**headers, "ETag": etag}
    if etag in request.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=kind, headers=headers)
