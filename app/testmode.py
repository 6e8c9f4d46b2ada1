"""Test mode (docs/behaviour.md §13): controls for people testing their clients against this
server. Nothing here is installed unless `ALIEN_TEST_MODE=1`; `install()` is the one hook.

- start-up: a WARNING, the shared clock, the fixtures (§13.1);
- `POST /_test/reset` and `POST /_test/clock` (admin only, outside /v1, not in the spec);
- `Prefer` controls (app/faults.py) and the exchange recording (app/recording.py).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from connexion import FlaskApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from app import fixtures as fixture_files
from app.auth import TokenCache, authenticate
from app.faults import PreferControls, possible_statuses
from app.recording import Recorder
from app.settings import Settings
from models import clock
from models import fixtures as stored
from models.db import db
from models.errors import BadRequest, Forbidden

log = logging.getLogger("alien.testmode")
#: The test routes look their admin token up every time: they are few, and reset revokes.
UNCACHED = TokenCache(0)

PREFIX = "/_test/"
MAX_ADVANCE_SECONDS = 10 * 365 * 24 * 3600
WORKER_BOOT_ERROR = 3  # gunicorn stops the whole server when a worker exits with this


def install(app: FlaskApp, settings: Settings, spec: dict[str, Any]) -> None:
    """Start-up and middleware of test mode; a bad fixture file stops the start (one line)."""
    log.warning(
        "TEST MODE (ALIEN_TEST_MODE=1): /_test/reset, /_test/clock and Prefer controls are "
        "on; never expose this server to anything but a test suite"
    )
    loaded = read_fixtures_or_exit(settings)
    with db.connection_context():
        stored.prepare()
        clock.share_through_database()  # before the load: fixture leases age by the shared clock
        stored.load(loaded)
    app.add_middleware(
        TestRoutes, position=MiddlewarePosition.BEFORE_SWAGGER, settings=settings, loaded=loaded
    )
    app.add_middleware(
        PreferControls,
        position=MiddlewarePosition.BEFORE_VALIDATION,
        statuses=possible_statuses(spec),
        fault_rate=settings.test_fault_rate,
    )
    if settings.test_record is not None:
        app.add_middleware(
            Recorder,
            position=MiddlewarePosition.BEFORE_EXCEPTION,
            path=settings.test_record,
            spec=spec,
        )


def read_fixtures_or_exit(settings: Settings) -> stored.Fixtures:
    """The checked fixtures, or one log line and the exit status that stops gunicorn. Also
    callable from gunicorn's `on_starting` hook, to check once in the master before any worker
    starts (when every worker finds the file bad at once, gunicorn's master prints its own
    HaltServer traceback after our line)."""
    try:
        return fixture_files.read(settings.fixtures) if settings.fixtures else stored.Fixtures()
    except fixture_files.FixtureError as exc:
        log.error("%s", exc)
        raise SystemExit(WORKER_BOOT_ERROR) from None


def reset(settings: Settings, loaded: stored.Fixtures) -> dict[str, Any]:
    started = time.perf_counter()
    with db.connection_context():
        stored.reset(loaded, settings.admin_token)
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

    def __init__(self, app: ASGIApp, settings: Settings, loaded: stored.Fixtures) -> None:
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
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    try:
        return json.loads(b"".join(chunks) or b"null")
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
