"""The application factory: wiring only."""

from __future__ import annotations

import functools
import json
import logging
import os
from pathlib import Path

from connexion import FlaskApp
from connexion.context import context
from connexion.jsonifier import Jsonifier
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from flask import Response

import handlers
from app import cloud, errors
from app.auth import bearer_handler
from app.middleware import BodyLimit, Cors, HeadAsGet, JsonByDefault, PathGuard, RequestLog
from app.settings import Settings
from app.spec import overlay, raw_bytes, raw_spec
from app.validation import VALIDATOR_MAP, SpecContract, compile_schemas
from models.db import bind_database, db, make_database
from models.schema import bootstrap, migrate

log = logging.getLogger("alien")


def create_app(settings: Settings | None = None) -> FlaskApp:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    prepare_storage(settings)
    compile_schemas()

    spec = overlay(raw_spec())
    contract = SpecContract()
    client_config = functools.partial(cloud.client_config, settings=settings)
    provided = {  # what a handler may take besides the spec's parameters (handlers.OPERATIONS)
        handlers.CALLER: lambda: context["token_info"]["caller"],
        handlers.LOCK_TTL: lambda: settings.lock_ttl_seconds,
        handlers.BASE_URL: lambda: settings.base_url,
        handlers.CLIENT_CONFIG: lambda: client_config,
        handlers.CONTRACT: lambda: contract,
    }
    app = FlaskApp(__name__, jsonifier=Jsonifier(json, separators=(",", ":")))  # compact JSON
    app.add_api(
        spec,
        resolver=Resolver(function_resolver=lambda op_id: handlers.bind(op_id, provided)),
        pythonic_params=True,
        validate_responses=settings.validate_responses,
        validator_map=VALIDATOR_MAP,
        security_map={"bearer": bearer_handler(settings.dev_mode)},
        swagger_ui_options=SwaggerUIOptions(
            serve_spec=False, swagger_ui_path="/ui", spec_path="/openapi.json"
        ),
    )
    app.add_url_rule("/openapi.json", "openapi_json", serve_raw_spec)
    app.add_middleware(PathGuard, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(JsonByDefault, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(
        BodyLimit, position=MiddlewarePosition.BEFORE_SWAGGER, max_bytes=settings.max_body_bytes
    )
    app.add_middleware(HeadAsGet, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(RequestLog, position=MiddlewarePosition.BEFORE_EXCEPTION)
    # Inside the request log, outside error rendering: error responses carry CORS headers too.
    app.add_middleware(
        Cors, position=MiddlewarePosition.BEFORE_EXCEPTION, origins=settings.cors_origins
    )
    errors.install(app, spec)
    return app


def prepare_storage(settings: Settings) -> None:
    """Connect, migrate, bootstrap: safe when every worker of every instance does it at once."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    bind_database(make_database(settings.database_url, settings.db_max_connections))
    with db.connection_context():
        migrate()
        minted = bootstrap(settings.admin_token, settings.dev_mode)
    if minted is not None:
        announce_admin_token(minted, settings.state_dir)


def announce_admin_token(token: str, state_dir: Path) -> None:
    """Show the first admin token once, and keep it where only this user can read it."""
    path = state_dir / "admin-token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.chmod(path, 0o600)
    print(f"Admin API key: {token}", flush=True)
    print(f"(also written to {path})", flush=True)


def serve_raw_spec() -> Response:
    """The contract exactly as the file has it (Connexion's served spec is resolved/overlaid)."""
    return Response(raw_bytes(), mimetype="application/json")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
    )
    logging.getLogger("alien").setLevel(level)
    # Peewee logs every query with its parameters at DEBUG, and parameters hold secrets
    # (environment variable values): never below INFO, whatever ALIEN_LOG_LEVEL says.
    logging.getLogger("peewee").setLevel(logging.INFO)
