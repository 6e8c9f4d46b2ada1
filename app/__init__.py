"""The application factory: wiring only."""

from __future__ import annotations

import functools
import json
import logging
import os
import warnings
from pathlib import Path

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
from flask import Response, redirect

import handlers
from app import cloud, errors, lifecycle, testmode
from app.auth import TokenCache, bearer_handler
from app.bridge import OneHopWSGI
from app.limits import Limits, StrictJSONProvider
from app.logs import configure_logging
from app.middleware import BodyDeadline, Cors, HeadAsGet, RequestGate, RequestLog
from app.settings import ConfigError, Settings, without_password
from app.spec import overlay, raw_bytes, raw_spec
from app.validation import SpecContract, compile_schemas, validator_map
from models import revocation
from models.db import CheckedPooledPostgresqlDatabase, bind_database, db, make_database
from models.schema import bootstrap, migrate

log = logging.getLogger("alien")


#: Where Swagger UI loads its document from: the overlaid spec, which declares the bearer
#: scheme (so the UI has an Authorize button); /openapi.json stays the verbatim file.
OVERLAY_PATH = "/openapi.overlay.json"


def create_app(settings: Settings | None = None) -> FlaskApp:
    # Imported here, not above: prometheus-client chooses its storage when first imported, and
    # the gunicorn configuration imports this package before it sets that up (app/multiproc.py).
    from app.metrics import Metrics

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics = Metrics(settings)
    prepare_storage(settings)
    if isinstance(db.obj, CheckedPooledPostgresqlDatabase):
        db.obj.on_in_use_change = metrics.pool_changed
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
    # Compact JSON that refuses NaN/Infinity: a stored one is a logged 500, never sent (§11).
    app = FlaskApp(__name__, jsonifier=Jsonifier(json, separators=(",", ":"), allow_nan=False))
    # Flask is reached with one thread hop per request, not a2wsgi's several (app/bridge.py).
    bridge = OneHopWSGI(app.app.wsgi_app, threads=settings.worker_threads)
    app._middleware_app.asgi_app = bridge  # type: ignore[assignment]
    app.add_api(
        spec,
        resolver=Resolver(function_resolver=lambda op_id: handlers.bind(op_id, provided)),
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
        security_map={
            "bearer": bearer_handler(settings.dev_mode, TokenCache(settings.auth_cache_seconds))
        },
        swagger_ui_options=SwaggerUIOptions(
            serve_spec=False, swagger_ui_path="/ui", spec_path=OVERLAY_PATH
        ),
    )
    app.app.json = StrictJSONProvider(app.app)  # handlers get the body the validator accepted
    app.add_url_rule("/openapi.json", "openapi_json", serve_raw_spec)
    overlaid = json.dumps(spec).encode()
    app.add_url_rule(
        OVERLAY_PATH, "openapi_overlay", lambda: Response(overlaid, mimetype="application/json")
    )
    app.add_url_rule("/", "root", lambda: redirect("/ui/"))
    app.add_url_rule("/metrics", "metrics", metrics.serve)
    app.add_url_rule("/ready", "ready", lifecycle.ready)  # §12, not in spec
    app.add_middleware(
        RequestGate, position=MiddlewarePosition.BEFORE_SWAGGER, max_bytes=settings.max_body_bytes
    )
    # At one position the first added is the outermost: the log (and metrics) see HEAD as it
    # came, before HeadAsGet makes it a GET for the layers inside.
    app.add_middleware(
        RequestLog, position=MiddlewarePosition.BEFORE_EXCEPTION, observe=metrics.observe
    )
    app.add_middleware(HeadAsGet, position=MiddlewarePosition.BEFORE_EXCEPTION)
    app.add_middleware(
        BodyDeadline,
        position=MiddlewarePosition.BEFORE_EXCEPTION,
        seconds=settings.body_timeout_seconds,
    )
    # Inside the request log, outside error rendering: error responses carry CORS headers too.
    app.add_middleware(
        Cors, position=MiddlewarePosition.BEFORE_EXCEPTION, origins=settings.cors_origins
    )
    errors.install(app, spec)
    if settings.test_mode:  # docs/behaviour.md §13; nothing of it exists otherwise
        testmode.install(app, settings, spec)
    return app


def prepare_storage(settings: Settings) -> None:
    """Connect, migrate, bootstrap: safe when every worker of every instance does it at once."""
    open_storage(settings)
    with db.connection_context():
        minted = bootstrap(settings.admin_token, settings.dev_mode)
    if minted is not None:
        announce_admin_token(minted, settings.state_dir, settings.log_format)


def open_storage(settings: Settings) -> None:
    """The state directory (owner only) and the database, migrated: what the CLI needs too.
    A directory or database that cannot be opened is a ConfigError naming its variable."""
    try:
        settings.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"ALIEN_STATE_DIR={str(settings.state_dir)!r} cannot be created: {exc.strerror}"
        ) from None
    database = make_database(settings.database_url, settings.db_max_connections)
    bind_database(database)
    revocation.configure(revocations_file(database, settings.state_dir))
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


def revocations_file(database: peewee.Database, state_dir: Path) -> Path | None:
    """Where processes serving from `database` share their revocations (models/revocation.py):
    beside a SQLite file (every instance on it), else in the state directory."""
    if isinstance(database, peewee.SqliteDatabase):
        name = str(database.database)
        if name == ":memory:" or name.startswith("file:"):
            return None
        return Path(name + "-revocations")
    return state_dir / "revocations"


def announce_admin_token(token: str, state_dir: Path, log_format: str = "text") -> None:
    """Show the first admin token once, and keep it where only this user can read it.
    JSON logs are shipped, and a token is never logged: there, only the file has it."""
    path = write_admin_token(token, state_dir)
    if log_format == "json":
        log.warning("admin token minted and written to %s", path)
        return
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


def serve_raw_spec() -> Response:
    """The contract exactly as the file has it (Connexion's served spec is resolved/overlaid)."""
    return Response(raw_bytes(), mimetype="application/json")
