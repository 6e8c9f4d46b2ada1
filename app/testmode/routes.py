"""`/_test/*` (docs/behaviour.md §13.2, §13.5): reset and the clock, admin only, outside /v1 and
the spec, answered before Connexion routes anything."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from connexion.exceptions import ProblemException
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app.http.auth import TokenCache, authenticate
from app.http.body import read_body
from app.settings import Settings
from models import clock, fixture_store
from models.db import db
from models.errors import BadRequest, Forbidden

#: The test routes look their admin token up every time: they are few, and reset revokes.
UNCACHED = TokenCache(0)

PREFIX = "/_test/"
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600


def reset(settings: Settings, loaded: fixture_store.Fixtures) -> dict[str, Any]:
    started = time.perf_counter()
    with db.connection_context():
        fixture_store.reset(loaded, settings.admin_token)
    return {
        "fixtures": loaded.count(),
        "durationMs": round((time.perf_counter() - started) * 1000, 3),
    }


def advance(seconds: float) -> dict[str, Any]:
    with db.connection_context():
        offset = clock.advance_shared(seconds)
        return {"offsetSeconds": offset, "now": clock.now().isoformat(timespec="microseconds")}


def read_clock() -> dict[str, Any]:
    with db.connection_context():
        return {
            "offsetSeconds": clock.shared_offset_seconds(),
            "now": clock.now().isoformat(timespec="microseconds"),
        }


class TestRoutes:
    """`/_test/*`: answered here, before Connexion routes anything, for admins only."""

    __test__ = False  # not a pytest class

    ROUTES = {"/_test/reset": ("POST",), "/_test/clock": ("GET", "POST")}

    def __init__(self, app: ASGIApp, settings: Settings, loaded: fixture_store.Fixtures) -> None:
        self.app = app
        self.settings = settings
        self.loaded = loaded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        if path not in self.ROUTES:
            raise ProblemException(status=404, title="Not Found", detail="Not found")
        if method not in self.ROUTES[path]:
            allow = ", ".join(self.ROUTES[path])
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
        if path == "/_test/reset":
            result = await run_in_threadpool(reset, self.settings, self.loaded)
        elif method == "GET":
            result = await run_in_threadpool(read_clock)
        else:
            seconds = _advance_seconds(await _json_body(receive))
            result = await run_in_threadpool(advance, seconds)
        await JSONResponse(result)(scope, receive, send)


async def _json_body(receive: Receive) -> Any:
    body = await read_body(receive)
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise BadRequest('The body must be JSON: {"advanceSeconds": N}') from None


def _advance_seconds(body: Any) -> float:
    value = body.get("advanceSeconds") if isinstance(body, dict) else None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= MAX_ADVANCE_SECONDS
        or set(body) != {"advanceSeconds"}
    ):
        raise BadRequest(
            f'The body must be {{"advanceSeconds": N}} with 0 < N <= {MAX_ADVANCE_SECONDS}',
            {"field": "advanceSeconds"},
        )
    return float(value)
