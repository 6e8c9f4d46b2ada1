"""The reference server's configuration names work here too (issue 22, item 10).

reference: crates/alien-manager/src/bin/main.rs:39-79 (`config_from_env`): `PORT`, else
`ALIEN_SERVER_PORT` (:40-44); `ALIEN_DB_PATH`, the SQLite file (:46-48);
`ALIEN_DEPLOYMENT_INTERVAL` (:54-57) and `ALIEN_HEARTBEAT_INTERVAL` (:59-62), its loops;
`OTLP_ENDPOINT` (:64), the collector telemetry is forwarded to; `ALIEN_DEV_MODE` on for `1` or
`true` in any case (:66-68). The reference takes every other dev-mode value as off; here a value
that is neither on nor off (`yes`, `on`) stops the start instead (the issue chose strictness).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import ConfigError, Settings, notes
from tests import cli


def test_alien_server_port_is_port_when_port_is_unset():
    assert Settings.from_env({"ALIEN_SERVER_PORT": "9090"}).port == 9090
    assert Settings.from_env({"ALIEN_SERVER_PORT": "9090", "PORT": "7070"}).port == 7070
    assert Settings.from_env({"ALIEN_SERVER_PORT": "9090"}).base_url == "http://localhost:9090"
    with pytest.raises(ConfigError, match="ALIEN_SERVER_PORT='x' is not valid"):
        Settings.from_env({"ALIEN_SERVER_PORT": "x"})


def test_alien_db_path_is_the_sqlite_file(tmp_path: Path):
    path = tmp_path / "ref.db"
    assert Settings.from_env({"ALIEN_DB_PATH": str(path)}).database_url == f"sqlite:///{path}"
    relative = Settings.from_env({"ALIEN_DB_PATH": "alien-manager.db"})
    assert relative.database_url == "sqlite:///alien-manager.db"
    with pytest.raises(ConfigError, match="DATABASE_URL or ALIEN_DB_PATH, not both"):
        Settings.from_env({"ALIEN_DB_PATH": str(path), "DATABASE_URL": f"sqlite:///{path}"})


@pytest.mark.parametrize(
    ("value", "on"),
    [("1", True), ("true", True), ("TRUE", True), ("True", True), ("0", False), ("false", False)],
)
def test_dev_mode_reads_what_the_reference_reads(value, on):
    assert Settings.from_env({"ALIEN_DEV_MODE": value}).dev_mode is on


@pytest.mark.parametrize("value", ["yes", "on", "enabled", "2", "no", "off"])
def test_any_other_dev_mode_value_is_a_configuration_error_naming_it(value):
    with pytest.raises(ConfigError, match=f"ALIEN_DEV_MODE='{value}' is not valid"):
        Settings.from_env({"ALIEN_DEV_MODE": value})


def test_the_loop_intervals_are_accepted_and_explained():
    env = {"ALIEN_DEPLOYMENT_INTERVAL": "10", "ALIEN_HEARTBEAT_INTERVAL": "60"}
    settings = Settings.from_env(env)
    assert (settings.deployment_interval, settings.heartbeat_interval) == (10, 60)
    said = notes(env)
    assert [line.split(":")[0] for line in said] == list(env)
    assert "no deployment loop" in said[0] and "no heartbeat loop" in said[1]
    with pytest.raises(ConfigError, match="ALIEN_HEARTBEAT_INTERVAL='1m' is not valid"):
        Settings.from_env({"ALIEN_HEARTBEAT_INTERVAL": "1m"})


def test_otlp_endpoint_is_read():
    assert Settings.from_env({"OTLP_ENDPOINT": "http://collector:4318"}).otlp_endpoint == (
        "http://collector:4318"
    )
    with pytest.raises(ConfigError, match="OTLP_ENDPOINT='collector' is not valid"):
        Settings.from_env({"OTLP_ENDPOINT": "collector"})


def test_check_config_says_where_the_reference_names_went(tmp_path: Path):
    result = cli.run(
        "check-config",
        database_url="",
        state_dir=tmp_path / "state",
        PORT="",
        ALIEN_SERVER_PORT="9191",
        DATABASE_URL="",
        ALIEN_DB_PATH=str(tmp_path / "ref.db"),
        ALIEN_DEPLOYMENT_INTERVAL="10",
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert lines["PORT"].split()[1:] == ["9191", "environment", "(ALIEN_SERVER_PORT)"]
    assert f"sqlite:///{tmp_path / 'ref.db'}" in lines["DATABASE_URL"]
    assert "environment (ALIEN_DB_PATH)" in lines["DATABASE_URL"]
    assert "note: ALIEN_DEPLOYMENT_INTERVAL: accepted and ignored" in result.stdout
