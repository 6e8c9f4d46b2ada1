"""Test mode (docs/behaviour.md §13): controls for people testing their clients against this
server. Nothing here is installed unless `ALIEN_TEST_MODE=1`; `install()` is the one hook.

- start-up: a WARNING, the shared clock, the fixtures (§13.1);
- `/_test/reset`, `/_test/clock`, `/_test/stubs`, `/_test/requests` (admin only, outside /v1,
  not in the spec: app/testmode/routes.py);
- `Prefer` controls and stubs (app/testmode/prefer.py, stubs.py, answers.py) and the journal of
  exchanges (app/testmode/recording.py);
- `declare()`: the statuses test mode can force, in the spec it serves.
"""

from __future__ import annotations

import logging
from typing import Any

from connexion import FlaskApp
from connexion.middleware import MiddlewarePosition

from app.contract.overlay import ALIEN_ERROR
from app.contract.spec import operations
from app.settings import WORKER_BOOT_ERROR, Settings
from app.testmode import fixture_file
from app.testmode.namespaces import Namespaces
from app.testmode.prefer import PreferControls, possible_statuses
from app.testmode.recording import Recorder
from app.testmode.routes import TestRoutes
from app.testmode.stubs import StubBook
from models import clock, fixture_store
from models.db import db

log = logging.getLogger("alien.testmode")


def install(app: FlaskApp, settings: Settings, spec: dict[str, Any]) -> None:
    """Start-up and middleware of test mode; a bad fixture file stops the start (one line)."""
    log.warning(
        "TEST MODE (ALIEN_TEST_MODE=1): /_test/reset, /_test/clock and Prefer controls are "
        "on; never expose this server to anything but a test suite"
    )
    loaded = read_fixtures_or_exit(settings)
    with db.connection_context():
        fixture_store.prepare()
        clock.share_through_database()  # before the load: fixture leases age by the shared clock
        fixture_store.load(loaded)
    statuses = possible_statuses(spec)
    app.add_middleware(  # first: outside the journal, which then writes in the namespace
        Namespaces, position=MiddlewarePosition.BEFORE_EXCEPTION, settings=settings, loaded=loaded
    )
    app.add_middleware(
        TestRoutes,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        settings=settings,
        loaded=loaded,
        stubs=StubBook(spec, statuses),
    )
    app.add_middleware(
        PreferControls,
        position=MiddlewarePosition.BEFORE_VALIDATION,
        statuses=statuses,
        fault_rate=settings.test_fault_rate,
    )
    app.add_middleware(
        Recorder, position=MiddlewarePosition.BEFORE_EXCEPTION, spec=spec, path=settings.test_record
    )


def declare(spec: dict[str, Any]) -> None:
    """Test mode's additions to the spec it serves (/openapi.overlay.json): 503, which every
    operation may be forced to answer (§13.3), declared with the AlienError body, so a
    validating proxy in front of the server (`prism proxy`) accepts it."""
    for _, _, op in operations(spec):
        response = op["responses"].setdefault("503", {"description": "AlienError (test mode)"})
        response.setdefault("content", {"application/json": {"schema": ALIEN_ERROR}})


def read_fixtures_or_exit(settings: Settings) -> fixture_store.Fixtures:
    """The checked fixtures, or one log line and the exit status that stops gunicorn. Also
    callable from gunicorn's `on_starting` hook, to check once in the master before any worker
    starts (when every worker finds the file bad at once, gunicorn's master prints its own
    HaltServer traceback after our line)."""
    try:
        return (
            fixture_file.read(settings.fixtures) if settings.fixtures else fixture_store.Fixtures()
        )
    except fixture_file.FixtureError as exc:
        log.error("%s", exc)
        raise SystemExit(WORKER_BOOT_ERROR) from None
