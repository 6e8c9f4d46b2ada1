"""The engine logs as the server does (simulator/logs.py mirrors app/serving/logs.py): the same
text line, the same JSON fields, `time` to the millisecond in both."""

from __future__ import annotations

import json
import logging
import re

from app.serving import logs as server_logs
from simulator import logs as engine_logs
from simulator.cli import simulate

MILLISECONDS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "alien.simulate", logging.INFO, __file__, 1, "dep_1: running", None, None
    )
    made.__dict__.update(extra)
    return made


def test_the_json_lines_match_and_carry_milliseconds():
    server = json.loads(server_logs.formatter("json").format(record(request_id=None)))
    engine = json.loads(
        engine_logs.JsonLines(
            engine_logs.JSON_FIELDS, rename_fields=engine_logs.JSON_RENAMES
        ).format(record())
    )
    assert set(engine) == set(server) - {"request_id"}
    assert MILLISECONDS.fullmatch(server["time"]) and MILLISECONDS.fullmatch(engine["time"])
    assert {k: engine[k] for k in ("level", "logger", "pid", "message")} == {
        k: server[k] for k in ("level", "logger", "pid", "message")
    }


def test_the_text_lines_match():
    assert engine_logs.PLAIN == server_logs.PLAIN


def test_the_engine_takes_the_servers_log_format_from_its_environment():
    option = next(p for p in simulate.params if p.name == "log_format")
    assert option.envvar == "ALIEN_LOG_FORMAT"
