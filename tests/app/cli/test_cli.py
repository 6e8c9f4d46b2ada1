"""The operator command line, run as operators run it: the installed `alien-server` script in a
subprocess, on the test's database, checked through the API (docs/behaviour.md §2, §12)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from harness.server import ROOT, free_port
from tests import cli
from tests.helpers import bearer

pytestmark = pytest.mark.slow  # each command is a fresh process (about a second or more each)


@pytest.fixture
def run(app, settings, database_url):
    """`alien-server ARGS` on this test's database (the app has started on it: tables, admin)."""

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return cli.run(*args, database_url=database_url, state_dir=settings.state_dir, **env)

    return run


COMMANDS = [
    [],
    ["serve"],
    ["admin-token"],
    ["tokens", "list"],
    ["tokens", "revoke"],
    ["groups", "list"],
    ["groups", "create"],
    ["check-config"],
]


def test_every_command_has_help(run):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda command: run(*command, "--help"), COMMANDS))
    for command, result in zip(COMMANDS, results, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.startswith(f"Usage: alien-server {' '.join(command)}".rstrip())
    assert "Exit codes: 0 done; 1 the command failed" in " ".join(results[0].stdout.split())


def test_admin_token_mints_a_working_token(run, client):
    result = run("admin-token")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert len(token) == 49 and token.startswith("ax_admin_")
    assert client.get("/v1/whoami", headers=bearer(token)).json()["scope"] == {"type": "admin"}


def test_rotation_revokes_every_other_admin_token_and_rewrites_the_file(run, client, settings):
    minted = run("admin-token").stdout.strip()
    result = run("admin-token", "--rotate")
    assert result.returncode == 0, result.stderr
    new = result.stdout.strip()
    assert client.get("/v1/whoami", headers=bearer(new)).status_code == 200
    for old in (minted, settings.admin_token):
        assert client.get("/v1/whoami", headers=bearer(old)).status_code == 401
    path = settings.state_dir / "admin-token"
    assert path.read_text() == new + "\n" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "revoked 2 other admin token(s)" in result.stderr
    assert "came from ALIEN_ADMIN_TOKEN" in result.stderr  # set a new value before restarting


def test_tokens_list_shows_every_token_but_never_a_secret(run, api, world, settings):
    api.get("/v1/whoami", world.deployment)  # a use to show
    result = run("tokens", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = sorted(row["kind"] for row in rows)
    assert kinds == ["admin", "deployment", "deployment", "deployment-group", "deployment-group"]
    deployment = next(r for r in rows if r["deployment"] == world.deployment_id)
    assert deployment["group"] == world.group_id and deployment["lastUsed"] is not None
    assert deployment["prefix"] == world.deployment["Authorization"][7:19]
    assert next(r for r in rows if r["kind"] == "admin")["configured"] is True

    table = run("tokens", "list")
    assert table.returncode == 0 and "LAST USED" in table.stdout and "never" in table.stdout
    secrets = [
        settings.admin_token,
        world.group["Authorization"][7:],
        world.deployment["Authorization"][7:],
    ]
    for output in (result.stdout, table.stdout):
        for secret in secrets:
            assert (
                secret not in output and hashlib.sha256(secret.encode()).hexdigest() not in output
            )

    only = run("tokens", "list", "--kind", "deployment", "--group", world.group_id, "--json")
    assert [json.loads(line)["deployment"] for line in only.stdout.splitlines()] == [
        world.deployment_id
    ]


def test_tokens_revoke_by_prefix(run, client, world):
    prefix = world.group["Authorization"][7:19]
    result = run("tokens", "revoke", prefix)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("revoked tok_") and prefix in result.stdout
    assert client.get("/v1/whoami", headers=world.group).status_code == 401
    assert client.get("/v1/whoami", headers=world.deployment).status_code == 200


@pytest.mark.parametrize(
    "selector, message",
    [
        ("ax_", "alien-server: 'ax_' matches more than one token (tok_"),
        ("ax_dg_zzz", "alien-server: no active token matches 'ax_dg_zzz'"),
        ("tok_missing", "alien-server: no active token matches 'tok_missing'"),
    ],
)
def test_tokens_revoke_refuses_an_unknown_or_ambiguous_selector(
    run, client, world, selector, message
):
    result = run("tokens", "revoke", selector)
    assert result.returncode == 1
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("alien-server:")]
    assert line.startswith(message) and result.stdout == "" and "Traceback" not in result.stderr
    for caller in (world.admin, world.group, world.deployment):
        assert client.get("/v1/whoami", headers=caller).status_code == 200


def test_groups_create_and_list(run, api):
    created = run("groups", "create", "ops", "--max-deployments", "3")
    assert created.returncode == 0, created.stderr
    group_id = created.stdout.strip()
    assert api.get(f"/v1/deployment-groups/{group_id}")["maxDeployments"] == 3
    listed = [json.loads(line) for line in run("groups", "list", "--json").stdout.splitlines()]
    assert [(g["id"], g["name"], g["deploymentCount"]) for g in listed] == [(group_id, "ops", 0)]
    assert listed == [api.get(f"/v1/deployment-groups/{group_id}")]  # as the API shows it
    assert "ops" in run("groups", "list").stdout


@pytest.mark.parametrize("args", [["--max-deployments", "-1"], ["--max-deployments", "x"], []])
def test_groups_create_refuses_bad_input(run, api, args):
    result = run("groups", "create", "" if not args else "ops", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert api.get("/v1/deployment-groups")["items"] == []


def test_check_config_prints_the_effective_settings_with_secrets_masked(run, settings):
    url = "postgresql://alien:hunter2@db.example:5432/alien"
    # PORT unset (`make test` exports the Makefile's PORT into the environment), so its default
    result = run("check-config", DATABASE_URL=url, ALIEN_ADMIN_TOKEN=settings.admin_token, PORT="")
    assert result.returncode == 78, result.stderr  # the settings parse; the database is not there
    (line,) = result.stderr.splitlines()
    assert line.startswith(
        "alien-server: configuration error: DATABASE_URL='postgresql://alien:***@db.example:5432/alien' cannot be opened: "
    )
    table = result.stdout.split("\n\n")[0]
    lines = {line.split()[0]: line.split()[1:] for line in table.splitlines()[1:]}
    assert lines["DATABASE_URL"] == ["postgresql://alien:***@db.example:5432/alien", "environment"]
    assert lines["ALIEN_ADMIN_TOKEN"][0] == settings.admin_token[:12] + "…"
    assert lines["PORT"] == ["8080", "default"] and lines["ALIEN_DEV_MODE"] == ["off", "default"]
    assert settings.admin_token not in result.stdout and "hunter2" not in result.stdout


def test_check_config_checks_the_contract_and_the_database(run, settings):
    result = run("check-config")
    assert result.returncode == 0, result.stderr
    checks = dict(line.split(": ", 1) for line in result.stdout.split("\n\n")[1].splitlines())
    digest = hashlib.sha256((ROOT / "openapi.json").read_bytes()).hexdigest()
    assert checks["contract"] == f"openapi.json sha256 {digest}, 22 operations"
    assert checks["database"].endswith(": answers")  # the app has started on it


def test_version(run):
    from app import __version__

    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"alien-server {__version__}\n"
    assert __version__ != "0+unknown"  # the installed package's metadata


def test_serve_runs_gunicorn_with_the_serving_configuration(tmp_path, database_url, settings):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ALIEN_STATE_DIR": str(tmp_path / "served"),
        "ALIEN_ADMIN_TOKEN": settings.admin_token,
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
    }
    with (tmp_path / "serve.log").open("wb") as log:  # the child keeps its own descriptor
        server = subprocess.Popen([cli.CLI, "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                whoami = httpx.get(
                    f"http://127.0.0.1:{port}/v1/whoami", headers=bearer(settings.admin_token)
                )
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "serve.log").read_text())
        assert whoami.status_code == 200
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    output = (tmp_path / "serve.log").read_text()
    assert f"Listening at: http://127.0.0.1:{port}" in output  # HOST and PORT, via the conf
    assert output.count("Booting worker") == 2  # WEB_CONCURRENCY, via the conf (gunicorn: 1)
    assert "app.serving.worker.AlienWorker" in output  # our worker class, via the conf
