"""Logging: plain text for a terminal (the default) or one JSON object per line to ship.

Every line a request produces carries its request id: the request-log middleware
(app/http/request_log.py) sets `REQUEST_ID`, a contextvar that follows the request into worker
threads, and the log record factory copies it onto each record as it is made, whichever logger
or handler it goes to.
The app and gunicorn (master, workers, uvicorn) log in the same format: `configure_logging` for
the app, `gunicorn_logconfig` for the gunicorn configuration. Messages never hold a token or a
body (the access line has method, path, status and duration only).
"""

from __future__ import annotations

import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from app.http.request_log import REQUEST_ID

FORMATS = ("text", "json")
PLAIN = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
#: JSON fields of every line, renamed to what log shippers expect; extras are added as given.
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s %(request_id)s"
#: Extras of other libraries' records that are no use in a shipped line (uvicorn's ANSI copy).
NOT_SHIPPED = ("color_message",)
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}


def stamp_request_ids() -> None:
    """Every record made from now on carries `request_id` (None outside a request)."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "stamps_request_id", False):
        return

    def with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        return record

    with_request_id.stamps_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(with_request_id)


class PlainFormatter(logging.Formatter):
    """The plain line, with ` request_id=...` after the message of a request's lines (before
    any traceback, so the first line of an error names its request)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        request_id = getattr(record, "request_id", None)
        return f"{line} request_id={request_id}" if request_id else line


class JsonLines(JsonFormatter):
    """python-json-logger's formatter, with `time` to the millisecond (RFC 3339, UTC)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonLines(
            JSON_FIELDS, rename_fields=JSON_RENAMES,
            reserved_attrs=[*RESERVED_ATTRS, *NOT_SHIPPED],
        )  # fmt: skip
    return PlainFormatter(PLAIN)


def handler(log_format: str) -> logging.Handler:
    """The one handler: stderr, in the chosen format."""
    out = logging.StreamHandler(sys.stderr)
    out.setFormatter(formatter(log_format))
    return out


def configure_logging(level: str, log_format: str = "text") -> None:
    """The app's logging: the root logger gets the one handler (unless gunicorn's configuration
    already gave it one); gunicorn's and uvicorn's loggers
    keep theirs but get the same format and filter, so a worker's lines all read alike.
    Warnings go through logging too, so in JSON mode nothing else reaches stderr."""
    stamp_request_ids()
    logging.basicConfig(level=level, handlers=[handler(log_format)])  # no-op under gunicorn
    logging.getLogger("alien").setLevel(level)
    # Peewee logs every query with its parameters at DEBUG, and parameters hold secrets
    # (environment variable values): never below INFO, whatever ALIEN_LOG_LEVEL says.
    logging.getLogger("peewee").setLevel(max(logging.INFO, logging.getLevelName(level)))
    for name in ("gunicorn.error", "gunicorn.access", "uvicorn.error", "uvicorn.access"):
        for existing in logging.getLogger(name).handlers:
            existing.setFormatter(formatter(log_format))
    logging.captureWarnings(log_format == "json")


def gunicorn_logconfig(level: str, log_format: str) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its own lines (master and workers) in the app's format.

    uvicorn's worker class hands its loggers gunicorn's error handlers, so they follow. The root
    logger (the app's lines) gets the app's level, as `configure_logging` would give it."""
    handler_config = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "alien",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"alien": {"()": formatter, "log_format": log_format}},
        "handlers": {"error_console": handler_config, "console": handler_config},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            # its level stays gunicorn's own (--log-level), which also governs uvicorn's lines
            "gunicorn.error": {"handlers": ["error_console"], "propagate": False},
        },
    }
