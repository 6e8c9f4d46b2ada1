"""The application factory: wiring only."""

from __future__ import annotations

import functools
import inspect
import json
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Connexion imports Starlette's test client at import time (connexion/apps/abstract.py), which
# warns about httpx with a UserWarning subclass, shown by default: in every worker and every
# CLI call. Not ours to fix; the filter must precede the first `import connexion`, so it sits
# here, in the package every entry point imports first.
warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

import peewee
from connexion import FlaskApp
from connexion.context import context
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from flask import Response

import handlers
from app import errors
from app.auth import bearer_handler
from app.limits import Limits, StrictJSONProvider
from app.middleware import (
    BodyDeadline,
    BodyLimit,
    HeadAsGet,
    JsonByDefault,
    NoFormBodies,
    PathGuard,
    RequestLog,
)
from app.settings import ConfigError, Settings, without_password
from app.spec import overlay, raw_bytes, raw_spec
from app.validation import (
    compile_schemas,
    omit_combinator_nulls,
    response_schemas,
    validator_map,
)
from models.db import bind_database, db, make_database
from models.schema import bootstrap, migrate

log = logging.getLogger("alien")


def create_app(settings: Settings | None = None) -> FlaskApp:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    prepare_storage(settings)
    compile_schemas()

    spec = overlay(raw_spec())
    schemas = response_schemas(spec)
    # Compact JSON that refuses NaN/Infinity: a stored one is a logged 500, never sent (§11).
    app = FlaskApp(__name__, jsonifier=Jsonifier(json, separators=(",", ":"), allow_nan=False))
    app.add_api(
        spec,
        resolver=Resolver(
            function_resolver=lambda op_id: omit_combinator_nulls(
                bind(handlers.resolve(op_id), settings), schemas.get(op_id, {})
            )
        ),
        pythonic_params=True,
        validate_responses=settings.validate_responses,
        validator_map=validator_map(
            Limits(
                max_depth=settings.max_json_depth,
                max_list_items=settings.max_list_items,
                max_text_chars=settings.max_text_chars,
                max_document_bytes=settings.max_document_bytes,
            )
        ),
        security_map={"bearer": bearer_handler(settings.dev_mode)},
        swagger_ui_options=SwaggerUIOptions(
            serve_spec=False, swagger_ui_path="/ui", spec_path="/openapi.json"
        ),
    )
    app.app.json = StrictJSONProvider(app.app)  # handlers get the body the validator accepted
    app.add_url_rule("/openapi.json", "openapi_json", serve_raw_spec)
    app.add_url_rule("/ready", "ready", handlers.health.ready)  # §12, not in spec
    app.add_middleware(NoFormBodies, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(PathGuard, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(JsonByDefault, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(
        BodyLimit, position=MiddlewarePosition.BEFORE_SWAGGER, max_bytes=settings.max_body_bytes
    )
    app.add_middleware(HeadAsGet, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(RequestLog, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(
        BodyDeadline,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        seconds=settings.body_timeout_seconds,
    )
    errors.install(app, spec)
    return app


def prepare_storage(settings: Settings) -> None:
    """Connect, migrate, bootstrap: safe when every worker of every instance does it at once."""
    open_storage(settings)
    with db.connection_context():
        minted = bootstrap(settings.admin_token, settings.dev_mode)
    if minted is not None:
        announce_admin_token(minted, settings.state_dir)


def open_storage(settings: Settings) -> None:
    """The state directory (owner only) and the database, migrated: what the CLI needs too.
    A directory or database that cannot be opened is a ConfigError naming its variable."""
    try:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"ALIEN_STATE_DIR={str(settings.state_dir)!r} cannot be created: {exc.strerror}"
        ) from None
    bind_database(make_database(settings.database_url, settings.db_max_connections))
    try:
        db.connect()
    except (peewee.OperationalError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        url = without_password(settings.database_url)
        raise ConfigError(f"DATABASE_URL={url!r} cannot be opened: {reason}") from None
    try:
        migrate()
    finally:
        db.close()


def announce_admin_token(token: str, state_dir: Path) -> None:
    """Show the first admin token once, and keep it where only this user can read it."""
    path = write_admin_token(token, state_dir)
    print(f"Admin API key: {token}", flush=True)
    print(f"(also written to {path})", flush=True)


def write_admin_token(token: str, state_dir: Path) -> Path:
    """(Re)write <state dir>/admin-token, mode 0600, replacing any earlier one at once."""
    path = state_dir / "admin-token"
    partial = state_dir / f".admin-token.{os.getpid()}"
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path


def bind(handler: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    """Run a handler in its own database connection, with the authenticated caller and the
    settings passed in when it asks for them (by naming a `caller` / `settings` parameter)."""
    wanted = inspect.signature(handler).parameters

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        if "caller" in wanted:
            kwargs["caller"] = context["token_info"]["caller"]
        if "settings" in wanted:
            kwargs["settings"] = settings
        with db.connection_context():
            return handler(*args, **kwargs)

    return call


def serve_raw_spec() -> Response:
    """The contract exactly as the file has it (Connexion's served spec is resolved/overlaid)."""
    return Response(raw_bytes(), mimetype="application/json")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
    )
    logging.getLogger("alien").setLevel(level)
