"""Settings come from the environment in one place; the README documents every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.settings import CLOUD_ENV, Settings, documented_variables

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_variables() -> set[str]:
    """Backticked UPPER_CASE names in the first cell of the configuration table's rows."""
    text = README.read_text()
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in table.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1]))
    return names


def test_readme_configuration_table_matches_the_settings():
    assert readme_variables() == documented_variables()


def test_defaults():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///.alien-manager/alien.db"
    assert s.base_url == "http://localhost:8080"
    assert s.max_body_bytes == 2 * 1024 * 1024
    assert s.lock_ttl_seconds == 300
    assert s.dev_mode is False and s.admin_token is None and s.validate_responses is True


def test_values_are_read_and_parsed():
    s = Settings.from_env(
        {
            "ALIEN_STATE_DIR": "/srv/alien",
            "PORT": "9000",
            "ALIEN_DEV_MODE": "true",
            "ALIEN_LOCK_TTL_SECONDS": "30",
            "ALIEN_VALIDATE_RESPONSES": "0",
            "AWS_REGION": "eu-west-1",
            "ALIEN_LOG_LEVEL": "debug",
        }
    )
    assert s.database_url == "sqlite:////srv/alien/alien.db"
    assert s.base_url == "http://localhost:9000"
    assert s.dev_mode is True and s.lock_ttl_seconds == 30 and s.validate_responses is False
    assert s.cloud.aws_region == "eu-west-1" and s.log_level == "DEBUG"


def test_empty_values_mean_unset():
    assert Settings.from_env({"PORT": "", "AWS_REGION": ""}) == Settings.from_env({})


def test_cloud_settings_read_the_clouds_own_variables():
    values = {var: f"v-{var}" for var in CLOUD_ENV.values()}
    cloud = Settings.from_env(values).cloud
    assert {getattr(cloud, field) for field in CLOUD_ENV} == set(values.values())


@pytest.mark.parametrize("bad", [{"PORT": "eighty"}, {"ALIEN_MAX_BODY_BYTES": "2MB"}])
def test_malformed_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        Settings.from_env(bad)


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_the_simulated_engine_settings():
    assert Settings.from_env({}).simulate is False
    s = Settings.from_env({"ALIEN_SIMULATE": "1", "ALIEN_SIMULATE_TICK_MS": "50"})
    assert s.simulate is True and s.simulate_tick_ms == 50
    with pytest.raises(ValueError, match="ALIEN_SIMULATE_TICK_MS"):
        Settings.from_env({"ALIEN_SIMULATE_TICK_MS": "0"})
