"""Logs people can ship (app/serving/logs.py): plain text by default, one JSON object per line with
ALIEN_LOG_FORMAT=json, the request id on every line a request produces, never a token."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import replace

import httpx
import pytest

from app.factory import create_app
from app.serving.logs import formatter
from app.settings import CLOUD_ENV, Settings
from harness import pg
from tests.helpers import ContractClient, bearer

pytestmark = pg.once()  # docs: harness/pg.py

NO_CLOUD = dict.fromkeys(CLOUD_ENV.values(), "")  # resolve-credentials for aws then fails


@pytest.mark.slow
def test_json_lines_from_app_and_gunicorn_with_the_request_id_on_the_error_line(
    live_server, admin, settings
):
    server = live_server(workers=2, ALIEN_LOG_FORMAT="json", ALIEN_LOG_LEVEL="INFO", **NO_CLOUD)
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        group_id = http.post("/v1/deployment-groups", json={"name": "g"}).json()["id"]
        group_token = http.post(f"/v1/deployment-groups/{group_id}/tokens").json()["token"]
        created = http.post(
            "/v1/deployments",
            json={"name": "d", "platform": "aws"},
            headers=bearer(group_token),
        )
        assert created.status_code == 201, created.text
        deployment_token = created.json()["token"]
        failing = http.post(
            "/v1/resolve-credentials",
            json={"deploymentId": created.json()["deployment"]["id"]},
            headers={"X-Request-Id": "req-failing-1"},
        )
    assert failing.status_code == 503
    assert failing.json()["code"] == "INVALID_client_config"
    server.stop()  # the shutdown lines too

    text = server.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line
    assert all(isinstance(line, dict) for line in lines)
    assert {"gunicorn.error", "uvicorn.error", "alien.access"} <= {line["logger"] for line in lines}
    assert {"time", "level", "logger", "pid", "message", "request_id"} <= set(lines[0])
    assert not [line for line in lines if "color_message" in line]

    of_request = [line for line in lines if line["request_id"] == "req-failing-1"]
    assert [(line["logger"], line["level"]) for line in of_request] == [
        ("alien.errors", "ERROR"),
        ("alien.access", "INFO"),
    ]
    assert "Invalid platform configuration: Missing AWS_ACCESS_KEY_ID" in of_request[0]["message"]
    assert of_request[1] | {"duration_ms": 0} == of_request[1] | {
        "method": "POST", "path": "/v1/resolve-credentials", "status": 503, "duration_ms": 0,
    }  # fmt: skip

    for secret in (settings.admin_token, group_token, deployment_token, '"deploymentId"'):
        assert secret not in text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """What the app's loggers write, through the plain-text formatter."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter("text"))
    logger = logging.getLogger("alien")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_plain_text_is_the_default_and_names_the_request(client, admin, captured):
    assert Settings().log_format == "text"
    client.get("/v1/whoami", headers=admin | {"X-Request-Id": "plain-1"})
    [line] = [line for line in captured.getvalue().splitlines() if "plain-1" in line]
    assert re.search(
        r" INFO alien\.access \d+ GET /v1/whoami 200 [\d.]+ms request_id=plain-1$", line
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_minted_admin_token_is_never_logged_in_json_mode(settings, capsys):
    json_settings = replace(settings, admin_token=None, log_format="json")
    with ContractClient(create_app(json_settings)):
        pass
    out, err = capsys.readouterr()
    assert "ax_admin_" not in out + err
    assert (json_settings.state_dir / "admin-token").read_text().startswith("ax_admin_")


@pytest.mark.parametrize("value, parsed", [("json", "json"), ("JSON", "json"), ("text", "text")])
def test_log_format_setting(value, parsed):
    assert Settings.from_env({"ALIEN_LOG_FORMAT": value}).log_format == parsed


def test_unknown_log_format_is_a_configuration_error():
    with pytest.raises(
        ValueError, match="ALIEN_LOG_FORMAT='xml' is not valid: expected one of text, json"
    ):
        Settings.from_env({"ALIEN_LOG_FORMAT": "xml"})
