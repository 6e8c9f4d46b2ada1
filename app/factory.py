"""The application factory: `create_app(settings)` wires the pieces of app/ into one FlaskApp.

Connexion loads the overlaid spec and routes every operationId to its handler
(handlers.OPERATIONS); the middleware of app/http/ sits around it in the order set here; the
storage is opened and migrated first (app/storage.py).
"""

from __future__ import annotations

import functools
import json
import logging

from connexion import FlaskApp
from connexion.context import context
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from flask import Response, redirect

import handlers
from app import cloud, console
from app.contract.limits import Limits
from app.contract.overlay import overlay
from app.contract.spec import raw_bytes, raw_spec
from app.contract.strict_json import CompactJsonifier, StrictJSONProvider
from app.contract.validation import SpecContract, compile_schemas, validator_map
from app.http import error_responses, lean
from app.http.auth import TokenCache, bearer_handler
from app.http.bridge import OneHopWSGI
from app.http.cors import Cors
from app.http.deadline import BodyDeadline
from app.http.gate import RequestGate
from app.http.head import HeadAsGet
from app.http.request_log import RequestLog
from app.http.telemetry import TelemetryRoutes
from app.serving import drain
from app.serving.logs import configure_logging
from app.settings import Settings
from app.storage import prepare_storage
from models.db import db
from models.engines import CheckedPooledPostgresqlDatabase

log = logging.getLogger("alien")


#: Where Swagger UI loads its document from: the overlaid spec, which declares the bearer
#: scheme (so the UI has an Authorize button); /openapi.json stays the verbatim file.
OVERLAY_PATH = "/openapi.overlay.json"


def create_app(settings: Settings | None = None) -> FlaskApp:
    # Imported here, not above: prometheus-client chooses its storage when first imported, and
    # the gunicorn configuration imports this package before it sets that up
    # (app/serving/multiproc.py).
    from app.serving.metrics import Metrics

    settings = settings or Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    metrics = Metrics(settings)
    prepare_storage(settings)
    if isinstance(db.obj, CheckedPooledPostgresqlDatabase):
        db.obj.on_in_use_change = metrics.pool_changed
    compile_schemas()

    spec = overlay(raw_spec())
    if settings.test_mode:  # docs/behaviour.md §13; nothing of it exists otherwise
        from app import testmode  # test mode's code is loaded only in test mode

        testmode.declare(spec)
    contract = SpecContract()
    client_config = functools.partial(cloud.client_config, settings=settings)
    tokens = TokenCache(settings.auth_cache_seconds)  # the API's and the console's
    provided = {  # what a handler may take besides the spec's parameters (handlers.OPERATIONS)
        handlers.CALLER: lambda: context["token_info"]["caller"],
        handlers.LOCK_TTL: lambda: settings.lock_ttl_seconds,
        handlers.BASE_URL: lambda: settings.base_url,
        handlers.CLIENT_CONFIG: lambda: client_config,
        handlers.CONTRACT: lambda: contract,
    }
    # Compact JSON that refuses NaN/Infinity: a stored one is a logged 500, never sent (§11).
    app = FlaskApp(__name__, jsonifier=CompactJsonifier())
    # Flask is reached with one thread hop per request, not a2wsgi's several (app/http/bridge.py).
    bridge = OneHopWSGI(app.app.wsgi_app, threads=settings.worker_threads)
    app._middleware_app.asgi_app = bridge
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
            ),
            strict_query=settings.query_is_strict,
        ),
        security_map={"bearer": bearer_handler(settings.dev_mode, tokens)},
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
    app.add_url_rule("/ready", "ready", drain.ready)  # §12, not in spec
    app.add_middleware(
        RequestGate, position=MiddlewarePosition.BEFORE_SWAGGER, max_bytes=settings.max_body_bytes
    )
    app.add_middleware(  # OTLP/HTTP beside the API, as the reference (docs/behaviour.md §5.5)
        TelemetryRoutes,
        position=MiddlewarePosition.BEFORE_SWAGGER,
        dev_mode=settings.dev_mode,
        cache=tokens,
        endpoint=settings.otlp_endpoint,
        count=metrics.telemetry_received,
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
    console.install(app, settings, tokens)  # /console, beside /ui (docs/behaviour.md §12)
    error_responses.install(app, spec)
    if settings.test_mode:
        from app import testmode

        testmode.install(app, settings, spec)
    lean.install(app)  # last: Connexion places middleware by its own classes
    return app


def serve_raw_spec() -> Response:
    """The contract exactly as the file has it (Connexion's served spec is resolved/overlaid)."""
    return Response(raw_bytes(), mimetype="application/json")
