"""The engine's log lines, in the server's formats (app/serving/logs.py; the simulator imports
nothing of the server, so the two formats are written twice and tests/simulator/test_logs.py
holds them equal): `text`, one line with time, level, logger and pid, or `json`, one object per
line with `time` (milliseconds, UTC), `level`, `logger`, `pid` and `message`. The engine run
under a server gets the server's ALIEN_LOG_FORMAT from its environment."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

from pythonjsonlogger.json import JsonFormatter

PLAIN = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger", "process": "pid"}


class JsonLines(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


def configure(log_format: str) -> None:
    out = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        out.setFormatter(JsonLines(JSON_FIELDS, rename_fields=JSON_RENAMES))
    else:
        out.setFormatter(logging.Formatter(PLAIN))
    logging.basicConfig(level=logging.INFO, handlers=[out], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request: too chatty
