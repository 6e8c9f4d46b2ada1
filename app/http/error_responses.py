"""One error shape: every failure a client sees is the spec's AlienError (docs/behaviour.md §3)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from connexion import FlaskApp
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from app.contract.limits import clip
from app.contract.spec import METHODS
from app.contract.validation import ValidationProblem
from models.db import DATABASE_FAILURES, failure_summary, is_commit_unknown, is_disk_full
from models.errors import DomainError

log = logging.getLogger("alien.errors")

#: AlienError code -> HTTP status: the one table.
STATUS = {
    "VALIDATION_ERROR": 400,
    "BAD_REQUEST": 400,
    "MAX_DEPLOYMENTS_REACHED": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "DEPLOYMENT_NOT_FOUND": 404,
    "DEPLOYMENT_GROUP_NOT_FOUND": 404,
    "RELEASE_NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "REQUEST_TIMEOUT": 408,
    "DEPLOYMENT_LOCKED": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "REQUEST_HEADERS_TOO_LARGE": 431,
    "INVALID_client_config": 503,  # the reference's 500; issue 22: never a 500 (docs §3, §10)
    "DATABASE_ERROR": 500,
    "GENERIC_ERROR": 500,
    "SERVICE_UNAVAILABLE": 503,
}
#: Framework statuses -> code, for Connexion's problems and Starlette's HTTP exceptions.
CODE_FOR_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}
#: The reference's flags (docs/behaviour.md §10); our own 408 and 503 are retryable too.
RETRYABLE = {"DEPLOYMENT_LOCKED", "DATABASE_ERROR", "REQUEST_TIMEOUT", "SERVICE_UNAVAILABLE"}
INTERNAL = {"DATABASE_ERROR"}
#: The reference's Unauthorized/Forbidden/BadRequest carry their message as `context.reason`.
REASON_IN_CONTEXT = {"UNAUTHORIZED", "FORBIDDEN", "BAD_REQUEST"}
INTERNAL_ERROR_MESSAGE = "Internal server error"
#: An error body echoes at most this much of anything (a message, each context string, each
#: context list), however large the input it describes (docs/behaviour.md §11).
MAX_ECHO_CHARS = 1024
MAX_ECHO_ITEMS = 20


def alien_response(
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    retryable: bool | None = None,
    status: int | None = None,
) -> ConnexionResponse:
    status = status or STATUS[code]
    body = alien_body(code, message, context, retryable, status)
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return ConnexionResponse(
        status_code=status,
        mimetype="application/json",
        content_type="application/json",
        body=json.dumps(body, separators=(",", ":")),  # compact, like every other response
        headers=headers,
    )


def _bounded(value: Any) -> Any:
    """A context as sent: no string, and no list, longer than an error should echo."""
    if isinstance(value, str):
        return clip(value, MAX_ECHO_CHARS)
    if isinstance(value, dict):
        return {k: _bounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bounded(v) for v in value[:MAX_ECHO_ITEMS]]
    return value


def alien_body(
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    retryable: bool | None = None,
    status: int | None = None,
) -> dict[str, Any]:
    """The AlienError document, also for answers written below the app (the worker's protocol,
    /ready). `retryable` overrides the code's own flag, `status` its status."""
    message = clip(message, MAX_ECHO_CHARS)
    if code in REASON_IN_CONTEXT:
        context = {"reason": message} | (context or {})
    body: dict[str, Any] = {"code": code, "message": message}
    if context:
        body["context"] = _bounded(context)
    retryable = code in RETRYABLE if retryable is None else retryable
    body |= {"retryable": retryable, "internal": code in INTERNAL,
             "httpStatusCode": status or STATUS[code]}  # fmt: skip
    return body


def internal_error(exc: BaseException) -> ConnexionResponse:
    log.error("unhandled error: %r", exc, exc_info=exc)
    return alien_response("GENERIC_ERROR", INTERNAL_ERROR_MESSAGE)


def handle_database(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    """The database failed (unreachable, restarted, busy, no pooled connection): the
    reference's retryable DATABASE_ERROR; the driver's own words go to the log only."""
    full = is_disk_full(exc)  # passes when space is freed: a 503, and no traceback (§12)
    log.error("database failure: %r", exc, exc_info=None if full else exc)
    message = f"Database operation failed: {failure_summary(exc)}"
    status = 503 if full else None
    # Lost during COMMIT, the write may have been saved: a blind retry could apply it twice.
    return alien_response(
        "DATABASE_ERROR", message, retryable=not is_commit_unknown(exc), status=status
    )


def handle_domain(_request: ConnexionRequest, exc: DomainError) -> ConnexionResponse:
    if STATUS[exc.code] >= 500:
        log.error("%s: %s", exc.code, exc.message)
    return alien_response(exc.code, exc.message, exc.context)


def handle_problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's own failures: validation, security, media type, response conformance."""
    code = CODE_FOR_STATUS.get(exc.status_code)
    if code is None or exc.status_code >= 500:
        return internal_error(exc)
    message = str(exc.detail or exc.title or code)
    context = None
    if code == "VALIDATION_ERROR":
        errors = exc.errors if isinstance(exc, ValidationProblem) else [message]
        context = {"errors": errors}
    return alien_response(code, message, context, headers=_safe_headers(exc.headers))


def handle_any(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    return internal_error(exc)


def _safe_headers(headers: Any) -> dict[str, str]:
    return {k: v for k, v in dict(headers or {}).items() if k.lower() in ("allow", "retry-after")}


def allow_table(spec: dict[str, Any]) -> Callable[[str], str]:
    """`Allow` for a path: every method the spec declares on it.

    Connexion registers one route per (path, method), so Starlette's own `Allow` names only one.
    """
    routes = []
    for path, item in spec["paths"].items():
        methods = [m.upper() for m in METHODS if m in item]
        if "GET" in methods:
            methods.append("HEAD")
        regex, _, _ = compile_path(path)
        routes.append((regex, ", ".join(methods)))

    def allow_for(path: str) -> str:
        return next((allow for regex, allow in routes if regex.match(path)), "")

    return allow_for


class ClientMistakeAsWarning(logging.Filter):
    """Connexion logs an ERROR for a query parameter that is undeclared but named like a handler
    argument (`?caller=1`, `?body=1`); it is then ignored. That is a client's mistake, not a
    server fault: a WARNING (docs/behaviour.md §11). Look-alikes of declared parameters
    (`?limit[]=1`) never get here: app/contract/validation.py drops them (or, strict, refuses
    them with a 400) first."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


CLIENT_MISTAKES = ClientMistakeAsWarning()


def install(app: FlaskApp, spec: dict[str, Any]) -> None:
    allow_for = allow_table(spec)
    logging.getLogger("connexion.decorators.parameter").addFilter(CLIENT_MISTAKES)

    def handle_http(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        """Starlette's routing answers: unknown path, wrong method."""
        if exc.status_code == 405:
            allow = allow_for(request.url.path)
            return alien_response(
                "METHOD_NOT_ALLOWED",
                f"Method {request.method} not allowed; allowed: {allow}",
                headers={"Allow": allow},
            )
        code = CODE_FOR_STATUS.get(exc.status_code)
        if code is None:
            return internal_error(exc)
        message = "Not found" if code == "NOT_FOUND" else str(exc.detail)
        return alien_response(code, message, headers=_safe_headers(exc.headers))

    app.add_error_handler(DomainError, handle_domain)
    for failure in DATABASE_FAILURES:
        app.add_error_handler(failure, handle_database)
    app.add_error_handler(ProblemException, handle_problem)
    app.add_error_handler(HTTPException, handle_http)
    app.add_error_handler(Exception, handle_any)
