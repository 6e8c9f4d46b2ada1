"""`/_test/*` (docs/behaviour.md §13.2, §13.5, §13.7, §13.8): reset, the clock, stubs and the
journal, admin only, outside /v1 and the spec, answered before Connexion routes anything."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Any

from connexion.exceptions import ProblemException
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.contract.strict_json import NotJson, strict_loads
from app.http.auth import TokenCache, authenticate
from app.http.body import read_body
from app.settings import Settings
from app.testmode.stubs import StubBook
from models import clock, fixture_store, testkit
from models.db import db
from models.errors import BadRequest, Forbidden, NotFound

#: The test routes look their admin token up every time: they are few, and reset revokes.
UNCACHED = TokenCache(0)

PREFIX = "/_test/"
CLOCK_USAGE = (
    'The body is {"advanceSeconds": N} (0 < N <= 315360000), {"set": "<RFC 3339 time>"} '
    'and/or {"freeze": true|false}'
)
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600
MAX_LISTED = 1000
FILTERS = {"operationId", "method", "path", "status", "since", "limit"}


def reset(settings: Settings, loaded: fixture_store.Fixtures) -> dict[str, Any]:
    started = time.perf_counter()
    with db.connection_context():
        fixture_store.reset(loaded, settings.admin_token)
    return {
        "fixtures": loaded.count(),
        "durationMs": round((time.perf_counter() - started) * 1000, 3),
    }


def move_clock(moves: dict[str, Any]) -> dict[str, Any]:
    with db.connection_context():
        clock.move_shared(**moves)
        return read_clock()


def read_clock() -> dict[str, Any]:
    with db.connection_context():
        return {
            "now": clock.now().isoformat(timespec="microseconds"),
            "frozen": clock.shared_frozen(),
            "offsetSeconds": clock.shared_offset_seconds(),
        }


def in_database(function: Any, *args: Any, **kwargs: Any) -> Any:
    with db.connection_context():
        return function(*args, **kwargs)


class TestRoutes:
    """`/_test/*`: answered here, before Connexion routes anything, for admins only."""

    __test__ = False  # not a pytest class

    ROUTES = {
        "/_test/reset": ("POST",),
        "/_test/clock": ("GET", "POST"),
        "/_test/stubs": ("GET", "POST"),
        "/_test/stubs/{id}": ("DELETE",),
        "/_test/requests": ("GET", "DELETE"),
    }
    STUB = re.compile(r"^/_test/stubs/([^/]+)$")

    def __init__(
        self, app: ASGIApp, settings: Settings, loaded: fixture_store.Fixtures, stubs: StubBook
    ) -> None:
        self.app = app
        self.settings = settings
        self.loaded = loaded
        self.stubs = stubs

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        stub = self.STUB.match(path)
        route = "/_test/stubs/{id}" if stub else path
        if route not in self.ROUTES:
            raise ProblemException(status=404, title="Not Found", detail="Not found")
        if method not in self.ROUTES[route]:
            allow = ", ".join(self.ROUTES[route])
            raise ProblemException(
                status=405,
                title="Method Not Allowed",
                detail=f"Method {method} not allowed; allowed: {allow}",
                headers={"Allow": allow},
            )
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        caller = await authenticate(
            None if auth is None else auth.decode("latin-1"), self.settings.dev_mode, UNCACHED
        )
        if not caller.is_admin:
            raise Forbidden("Admin access required")
        status, result = await self._answer(route, method, scope, receive, stub)
        await JSONResponse(result, status)(scope, receive, send)

    async def _answer(
        self, route: str, method: str, scope: Scope, receive: Receive, stub: Any
    ) -> tuple[int, Any]:
        if route == "/_test/reset":
            return 200, await run_in_threadpool(reset, self.settings, self.loaded)
        if route == "/_test/clock":
            if method == "GET":
                return 200, await run_in_threadpool(read_clock)
            moves = _clock_moves(await _json_body(receive, CLOCK_USAGE))
            return 200, await run_in_threadpool(move_clock, moves)
        if route == "/_test/stubs/{id}":
            if not await run_in_threadpool(in_database, testkit.remove_stub, stub.group(1)):
                raise NotFound(stub.group(1))
            return 200, {"id": stub.group(1)}
        if route == "/_test/stubs" and method == "GET":
            return 200, {"items": await run_in_threadpool(in_database, testkit.stubs)}
        if route == "/_test/stubs":
            checked = self.stubs.check(await _json_body(receive, "The body is a stub (JSON)"))
            return 201, {"id": await run_in_threadpool(in_database, testkit.add_stub, *checked)}
        if method == "DELETE":
            return 200, {"deleted": await run_in_threadpool(in_database, testkit.clear_journal)}
        filters = _filters(QueryParams(scope.get("query_string", b"")))
        return 200, {"items": await run_in_threadpool(in_database, testkit.exchanges, **filters)}


async def _json_body(receive: Receive, usage: str) -> Any:
    body = await read_body(receive)
    try:
        return strict_loads(body or b"null")
    except NotJson as exc:
        raise BadRequest(f"{usage}: {exc}") from None


def _clock_moves(body: Any) -> dict[str, Any]:
    """`clock.move_shared`'s arguments from a body of `advanceSeconds`, `set`, `freeze`."""
    if not isinstance(body, dict) or not body or set(body) - {"advanceSeconds", "set", "freeze"}:
        raise BadRequest(CLOCK_USAGE)
    moves: dict[str, Any] = {}
    if "advanceSeconds" in body:
        value = body["advanceSeconds"]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 < value <= MAX_ADVANCE_SECONDS
        ):
            raise BadRequest(
                f'The body must be {{"advanceSeconds": N}} with 0 < N <= {MAX_ADVANCE_SECONDS}',
                {"field": "advanceSeconds"},
            )
        moves["seconds"] = float(value)
    if "set" in body:
        moves["to"] = _instant(body["set"])
    if "freeze" in body:
        if not isinstance(body["freeze"], bool):
            raise BadRequest('"freeze" is true or false', {"field": "freeze"})
        moves["frozen"] = body["freeze"]
    return moves


def _instant(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset (`2030-01-01T00:00:00Z`)."""
    try:
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise ValueError
        return when
    except ValueError:
        raise BadRequest(
            '"set" is an RFC 3339 date-time with its offset, e.g. "2030-01-01T00:00:00Z"',
            {"field": "set"},
        ) from None


def _filters(query: QueryParams) -> dict[str, Any]:
    unknown = set(query) - FILTERS
    if unknown:
        raise BadRequest(
            f"Unknown filter {sorted(unknown)[0]!r}; filters: {', '.join(sorted(FILTERS))}"
        )
    filters: dict[str, Any] = {}
    for name, key in (("operationId", "operation_id"), ("method", "method"), ("path", "path")):
        if name in query:
            filters[key] = query[name].upper() if name == "method" else query[name]
    for name, low, high in (("status", 100, 599), ("since", 0, 2**62), ("limit", 1, MAX_LISTED)):
        if name in query:
            value = query[name]
            if not (value.isascii() and value.isdigit() and len(value) <= 19) or not (
                low <= int(value) <= high
            ):
                raise BadRequest(f"{name} is an integer from {low} to {high}")
            filters[name] = int(value)
    return filters
