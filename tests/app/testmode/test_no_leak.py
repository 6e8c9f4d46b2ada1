"""Test data never leaks into production (docs/behaviour.md §13.1): fixture tokens work only in
test mode, and test mode keeps its own state directory by default."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
FIXTURE_ADMIN = bearer("ax_admin_" + "0" * 39 + "1")
FIXTURE_DG = bearer("ax_dg_" + "0" * 39 + "2")


def test_fixture_tokens_are_refused_outside_test_mode(settings, caplog):
    test_settings = dataclasses.replace(settings, test_mode=True, fixtures=EXAMPLE)
    with TestClient(create_app(test_settings)) as client:
        assert client.get("/v1/whoami", headers=FIXTURE_ADMIN).status_code == 200
    caplog.clear()
    with TestClient(create_app(settings)) as client:  # the same database, a normal server
        assert client.get("/v1/whoami", headers=FIXTURE_ADMIN).status_code == 401
        assert client.get("/v1/whoami", headers=FIXTURE_DG).status_code == 401
        assert client.get("/v1/whoami", headers=bearer(settings.admin_token)).status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("fixture file: refused" in w and "ALIEN_TEST_MODE=1" in w for w in warnings)
    with TestClient(create_app(test_settings)) as client:  # and test mode takes them back
        assert client.get("/v1/whoami", headers=FIXTURE_ADMIN).status_code == 200


def test_a_normal_database_gives_no_warning(settings, caplog):
    create_app(settings)
    assert not [r for r in caplog.records if "fixture file" in r.getMessage()]


def test_test_mode_has_its_own_default_state_directory():
    assert Settings.from_env({"ALIEN_TEST_MODE": "1"}).state_dir == Path(".alien-manager-test")
    assert Settings.from_env({}).state_dir == Path(".alien-manager")
    chosen = Settings.from_env({"ALIEN_TEST_MODE": "1", "ALIEN_STATE_DIR": "/tmp/x"})
    assert chosen.state_dir == Path("/tmp/x")
