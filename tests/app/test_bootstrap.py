"""First start: exactly one admin token, shown once, kept where only its owner can read it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import replace

import pytest

from app.factory import create_app
from app.settings import Settings
from harness.server import ROOT
from models.db import bind_database, db
from models.engines import make_database
from models.tokens import ADMIN, Token
from tests.helpers import bearer


def admin_tokens() -> int:
    with db.connection_context():
        return Token.select().where(Token.kind == ADMIN).count()


@pytest.fixture
def fresh(settings):
    """Settings for a first start: no ALIEN_ADMIN_TOKEN."""
    return replace(settings, admin_token=None)


def test_first_start_mints_prints_and_stores_one_admin_token(fresh, capsys):
    create_app(fresh)
    out = capsys.readouterr().out
    token = (fresh.state_dir / "admin-token").read_text().strip()
    assert token.startswith("ax_admin_") and len(token) == 49
    assert out.count("Admin API key: ") == 1 and f"Admin API key: {token}" in out
    assert stat.S_IMODE(os.stat(fresh.state_dir / "admin-token").st_mode) == 0o600
    assert admin_tokens() == 1


def test_the_stored_token_works(fresh):
    from starlette.testclient import TestClient

    app = create_app(fresh)
    token = (fresh.state_dir / "admin-token").read_text().strip()
    with TestClient(app) as client:
        assert client.get("/v1/whoami", headers=bearer(token)).json()["scope"]["type"] == ADMIN


def test_later_starts_mint_nothing(fresh, capsys):
    create_app(fresh)
    capsys.readouterr()
    create_app(fresh)
    create_app(fresh)
    assert "Admin API key" not in capsys.readouterr().out
    assert admin_tokens() == 1


def test_configured_admin_token_is_registered_silently(settings, capsys):
    create_app(settings)
    create_app(settings)
    assert "Admin API key" not in capsys.readouterr().out
    assert not (settings.state_dir / "admin-token").exists()
    assert admin_tokens() == 1


def test_configured_admin_token_must_have_the_admin_prefix():
    with pytest.raises(ValueError, match="ALIEN_ADMIN_TOKEN is not valid: expected 'ax_admin_'"):
        Settings.from_env({"ALIEN_ADMIN_TOKEN": "ax_dg_" + "0" * 40})


def test_server_refuses_to_start_with_a_bad_admin_token(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import app.asgi"],
        cwd=ROOT,
        env={**os.environ, "ALIEN_STATE_DIR": str(tmp_path), "ALIEN_ADMIN_TOKEN": "secret"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ALIEN_ADMIN_TOKEN is not valid: expected 'ax_admin_'" in result.stderr
    assert "Traceback" not in result.stderr


STARTER = """
import sys, time
from app.factory import create_app
from app.settings import Settings
start_at = float(sys.argv[1])
while time.time() < start_at:
    pass
create_app(Settings.from_env())
"""


def test_workers_starting_at_once_on_an_empty_database_create_one_admin_token(
    tmp_path, database_url
):
    import time

    env = {**os.environ, "DATABASE_URL": database_url, "ALIEN_STATE_DIR": str(tmp_path)}
    env.pop("ALIEN_ADMIN_TOKEN", None)
    start_at = str(time.time() + 1.5)  # all four past import, then racing
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, start_at],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outputs]
    printed = sum(out.count("Admin API key: ") for out, _ in outputs)
    assert printed == 1
    bind_database(make_database(database_url))
    assert admin_tokens() == 1


def test_admin_token_command_mints_a_working_token(settings, tmp_path):
    create_app(settings)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "ALIEN_STATE_DIR": str(settings.state_dir),
    }
    result = subprocess.run(
        [sys.executable, "-m", "app", "admin-token"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("ax_admin_")
    from starlette.testclient import TestClient

    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/whoami", headers=bearer(token)).status_code == 200
    assert admin_tokens() == 2  # the configured one and the minted one
