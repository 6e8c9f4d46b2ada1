"""Settings: declared once, parsed strictly, documented in the README from the same entries.

A bad variable stops every entry point (gunicorn app.asgi:app, alien-server serve and its other
commands) with one line naming the variable and what it accepts, and no traceback.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from app.factory import create_app
from app.settings import CLOUD_ENV, CloudSettings, ConfigError, Settings, readme_rows, variables
from harness.server import ROOT, free_port

README = ROOT / "README.md"
CLI = str(Path(sys.executable).parent / "alien-server")
GOOD_TOKEN = "ax_admin_" + "0123456789abcdef" * 2 + "01234567"


def readme_table_rows() -> list[str]:
    """The rows of the README's configuration table (after its header and separator)."""
    table = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return [line for line in table.splitlines() if line.startswith("| `")]


def test_readme_configuration_table_is_generated_from_the_declarations():
    expected = readme_rows()
    assert readme_table_rows() == expected, "README rows should be:\n" + "\n".join(expected)


def test_every_field_is_declared_once_with_its_own_variable():
    names = [f.name for cls in (Settings, CloudSettings) for f in fields(cls)]
    assert len(variables()) == len(names) - 1  # all but Settings.cloud
    env_names = [var.env for var in variables()]
    assert len(env_names) == len(set(env_names))


def test_defaults():
    s = Settings.from_env({})
    assert s.database_url == "sqlite:///.alien-manager/alien.db"
    assert s.base_url == "http://localhost:8080"
    assert s.max_body_bytes == 2 * 1024 * 1024
    assert s.lock_ttl_seconds == 300
    assert s.dev_mode is False and s.admin_token is None and s.validate_responses is True
    assert (s.host, s.port, s.web_concurrency) == ("127.0.0.1", 8080, 2)
    assert s == Settings()


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
            "ALIEN_ADMIN_TOKEN": GOOD_TOKEN,
            "WEB_CONCURRENCY": "4",
        }
    )
    assert s.database_url == "sqlite:////srv/alien/alien.db"
    assert s.base_url == "http://localhost:9000"
    assert s.dev_mode is True and s.lock_ttl_seconds == 30 and s.validate_responses is False
    assert s.cloud.aws_region == "eu-west-1" and s.log_level == "DEBUG"
    assert s.admin_token == GOOD_TOKEN and s.web_concurrency == 4


def test_empty_values_mean_unset():
    assert Settings.from_env({"PORT": "", "AWS_REGION": "", "ALIEN_DEV_MODE": " "}) == Settings()


def test_cloud_settings_read_the_clouds_own_variables():
    values = {var: f"v-{var}" for var in CLOUD_ENV.values()}
    cloud = Settings.from_env(values).cloud
    assert {getattr(cloud, field) for field in CLOUD_ENV} == set(values.values())


BAD = [
    ("ALIEN_MAX_BODY_BYTES", "2MB", "a whole number of bytes, at least 1"),
    ("ALIEN_MAX_BODY_BYTES", "-1", "a whole number of bytes, at least 1"),
    ("ALIEN_MAX_BODY_BYTES", "1_000", "a whole number of bytes"),
    ("ALIEN_VALIDATE_RESPONSES", "nope", "on (1, true, yes, on) or off (0, false, no, off)"),
    ("ALIEN_DEV_MODE", "enabled", "1 or true (on), 0 or false (off), as the reference server"),
    (
        "DATABASE_URL",
        "mysql://u@db/alien",
        "sqlite:///PATH or postgresql://USER@HOST:PORT/DATABASE, not mysql://",
    ),
    ("DATABASE_URL", "postgresql://db:5432/", "postgresql://USER@HOST:PORT/DATABASE"),
    ("DATABASE_URL", "postgresql://db:port/x", "postgresql://USER@HOST:PORT/DATABASE"),
    ("DATABASE_URL", "sqlite://", "sqlite:///PATH"),
    ("ALIEN_LOCK_TTL_SECONDS", "0", "a whole number of seconds, at least 1"),
    ("ALIEN_LOCK_TTL_SECONDS", "1.5", "a whole number of seconds, at least 1"),
    ("ALIEN_ADMIN_TOKEN", "ax_admin_", "'ax_admin_' followed by 40 to 200"),
    ("ALIEN_ADMIN_TOKEN", "ax_admin_" + "a" * 39, "'ax_admin_' followed by 40 to 200"),
    ("ALIEN_ADMIN_TOKEN", "ax_dg_" + "a" * 40, "'ax_admin_' followed by 40 to 200"),
    ("ALIEN_ADMIN_TOKEN", "ax_admin_" + "a" * 39 + " ", "'ax_admin_' followed by 40 to 200"),
    ("PORT", "eighty", "a whole number, at least 1, at most 65535"),
    ("PORT", "70000", "a whole number, at least 1, at most 65535"),
    ("WEB_CONCURRENCY", "0", "a whole number, at least 1"),
    ("ALIEN_DB_MAX_CONNECTIONS", "0", "a whole number, at least 1"),
    ("ALIEN_LOG_LEVEL", "loud", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("ALIEN_BASE_URL", "example.com", "an absolute http:// or https:// URL"),
]


@pytest.mark.parametrize("var, value, accepts", BAD)
def test_a_bad_value_is_refused_naming_the_variable_and_what_it_accepts(var, value, accepts):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({var: value})
    message = str(refused.value)
    assert message.startswith(var) and " is not valid: expected " in message and accepts in message
    assert "\n" not in message


@pytest.mark.parametrize("var", ["ALIEN_ADMIN_TOKEN", "DATABASE_URL"])
def test_a_refused_secret_is_not_echoed(var):
    secret = "ax_admin_tooshort" if var == "ALIEN_ADMIN_TOKEN" else "mysql://u:hunter2@db/x"
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({var: secret})
    assert "tooshort" not in str(refused.value) and "hunter2" not in str(refused.value)


def test_every_bad_variable_is_named_on_one_line():
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"PORT": "x", "ALIEN_LOCK_TTL_SECONDS": "0", "AWS_REGION": "ok"})
    message = str(refused.value)
    assert "PORT='x'" in message and "ALIEN_LOCK_TTL_SECONDS='0'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "var, value, parsed",
    [
        ("ALIEN_ADMIN_TOKEN", "ax_admin_" + "A-_z9" * 8, "ax_admin_" + "A-_z9" * 8),
        ("ALIEN_VALIDATE_RESPONSES", " OFF ", False),
        ("ALIEN_MAX_BODY_BYTES", " 1024 ", 1024),
        ("ALIEN_LOCK_TTL_SECONDS", "1", 1),
        ("DATABASE_URL", "postgresql://u:p%40ss@db:5432/alien?sslmode=require", None),
        ("DATABASE_URL", "postgresql+pool://u@db/alien", None),
        ("DATABASE_URL", "sqlite:////var/lib/alien/alien.db", None),
        ("ALIEN_BASE_URL", "https://alien.example.com/", None),
    ],
)
def test_good_values_are_accepted(var, value, parsed):
    settings = Settings.from_env({var: value})
    attribute = next(
        f.name
        for f in fields(Settings)
        if f.metadata.get("var", None) and f.metadata["var"].env == var
    )
    assert getattr(settings, attribute) == (value if parsed is None else parsed)


def test_effective_settings_mask_secrets():
    env = {
        "ALIEN_ADMIN_TOKEN": GOOD_TOKEN,
        "DATABASE_URL": "postgresql://alien:hunter2@db:5432/alien",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
        "AZURE_CLIENT_SECRET": "azure-secret-value",
        "AWS_REGION": "eu-west-1",
    }
    rows = {var: (value, source) for var, value, source in Settings.from_env(env).effective(env)}
    shown = " ".join(value for value, _ in rows.values())
    assert GOOD_TOKEN not in shown and "hunter2" not in shown and "secret-value" not in shown
    assert rows["ALIEN_ADMIN_TOKEN"] == (GOOD_TOKEN[:12] + "… (hidden)", "environment")
    assert rows["DATABASE_URL"] == ("postgresql://alien:***@db:5432/alien", "environment")
    assert rows["AWS_REGION"] == ("eu-west-1", "environment")
    assert rows["PORT"] == ("8080", "default") and rows["AWS_ACCESS_KEY_ID"][0] == "(unset)"


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_state_directory_and_sqlite_file_are_private(tmp_path):
    """0700 and 0600 whatever the umask (here 0: everything world-writable otherwise)."""
    state = tmp_path / "fresh" / "state"
    old = os.umask(0)
    try:
        create_app(Settings(state_dir=state, admin_token=GOOD_TOKEN))
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("alien.db", "alien.db-wal", "alien.db-shm"):
        if (state / name).exists() or name == "alien.db":
            assert stat.S_IMODE((state / name).stat().st_mode) == 0o600, name


# The real entry points, as subprocesses: each stops with the one line, exit code != 0.

ENTRY_CASES = [
    ("ALIEN_MAX_BODY_BYTES", "2MB"),
    ("ALIEN_VALIDATE_RESPONSES", "nope"),
    ("DATABASE_URL", "mysql://alien@db/alien"),
    ("ALIEN_LOCK_TTL_SECONDS", "0"),
    ("ALIEN_ADMIN_TOKEN", "ax_admin_"),
]


def run_all(
    commands: list[list[str]], envs: list[dict[str, str]], cwd: Path
) -> list[tuple[int, str]]:
    """Start every command at once (the machine is slow to import connexion), then collect."""
    procs = [
        subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for cmd, env in zip(commands, envs, strict=True)
    ]  # fmt: skip
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            pytest.fail(f"still running after 120 s (a worker restart loop?):\n{err[-2000:]}")
        results.append((proc.returncode, out + err))
    return results


def assert_one_line(output: str, var: str) -> None:
    lines = {line for line in output.splitlines() if var in line}
    assert len(lines) == 1, output  # each worker that got as far says the same one line
    (line,) = lines
    assert line.startswith(f"alien-server: configuration error: {var}") and "expected" in line
    assert "Traceback" not in output, output


def env_for(tmp_path: Path, index: int, var: str, value: str) -> dict[str, str]:
    state = tmp_path / f"s{index}"
    return {"ALIEN_STATE_DIR": str(state), "PORT": str(free_port()), "DATABASE_URL": "", var: value}


def gunicorn(*args: str) -> list[str]:
    return [sys.executable, "-m", "gunicorn", *args, "app.asgi:app"]


@pytest.mark.slow
def test_gunicorn_stops_before_any_worker_with_one_line_per_bad_variable(tmp_path):
    """`gunicorn app.asgi:app` from the repository reads ./gunicorn.conf.py, which checks the
    settings once, in the master: exit 78 (EX_CONFIG) and no worker ever boots."""
    envs = [{**env_for(tmp_path, i, var, value), "WEB_CONCURRENCY": "2"} for i, (var, value) in enumerate(ENTRY_CASES)]  # fmt: skip
    results = run_all([gunicorn()] * len(envs), envs, ROOT)
    for (var, _), (code, output) in zip(ENTRY_CASES, results, strict=True):
        assert code == 78 and "Booting worker" not in output, output
        assert_one_line(output, var)


@pytest.mark.slow
def test_the_installed_serving_configuration_stops_gunicorn_the_same_way(tmp_path):
    cases = ENTRY_CASES[2:4]
    envs = [{**env_for(tmp_path, i, var, value), "WEB_CONCURRENCY": "2"} for i, (var, value) in enumerate(cases)]  # fmt: skip
    results = run_all([gunicorn("-c", "python:app.gunicorn_conf")] * len(cases), envs, tmp_path)
    for (var, _), (code, output) in zip(cases, results, strict=True):
        assert code == 78 and "Booting worker" not in output, output
        assert_one_line(output, var)


@pytest.mark.slow
def test_a_worker_started_without_the_configuration_stops_gunicorn_too(tmp_path):
    """Without the conf (`-c /dev/null`), each worker checks the settings as it loads the app
    and exits with gunicorn's "worker failed to boot", so the master stops (exit 3) instead of
    restarting it for ever. One worker: when several fail at the same instant, gunicorn 27
    itself may print a traceback while halting."""
    cases = ENTRY_CASES[:2]
    envs = [env_for(tmp_path, i, var, value) for i, (var, value) in enumerate(cases)]
    commands = [
        gunicorn("-c", "/dev/null", "-k", "uvicorn_worker.UvicornWorker", "-w", "1", "-b", f"127.0.0.1:{env['PORT']}", "--control-socket", str(tmp_path / f"{i}.ctl"))
        for i, env in enumerate(envs)
    ]  # fmt: skip
    for (var, _), (code, output) in zip(cases, run_all(commands, envs, ROOT), strict=True):
        assert code == 3, output
        assert_one_line(output, var)


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve"], ["check-config"], ["tokens", "list"]])
def test_the_cli_stops_with_one_line_per_bad_variable(tmp_path, command):
    envs = [env_for(tmp_path, i, var, value) for i, (var, value) in enumerate(ENTRY_CASES)]
    results = run_all([[CLI, *command]] * len(envs), envs, tmp_path)
    for (var, _), (code, output) in zip(ENTRY_CASES, results, strict=True):
        assert code == 78, output
        assert_one_line(output, var)
        assert "Listening at" not in output  # serve never started gunicorn


@pytest.mark.slow
def test_a_state_directory_or_database_that_cannot_be_opened_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    cases = [
        ({"ALIEN_STATE_DIR": str(blocker / "state"), "DATABASE_URL": ""},
         f"ALIEN_STATE_DIR='{blocker / 'state'}' cannot be created: Not a directory"),
        ({"ALIEN_STATE_DIR": str(tmp_path / "s"), "DATABASE_URL": f"sqlite:///{blocker}/x/alien.db"},
         f"DATABASE_URL='sqlite:///{blocker}/x/alien.db' cannot be opened: "),
        ({"ALIEN_STATE_DIR": str(tmp_path / "s"), "DATABASE_URL": "postgresql://u:hunter2@127.0.0.1:1/x"},
         "DATABASE_URL='postgresql://u:***@127.0.0.1:1/x' cannot be opened: "),
    ]  # fmt: skip
    results = run_all([[CLI, "tokens", "list"]] * len(cases), [env for env, _ in cases], tmp_path)
    for (_, expected), (code, output) in zip(cases, results, strict=True):
        assert code == 78 and "Traceback" not in output and "hunter2" not in output, output
        (line,) = [line for line in output.splitlines() if line.startswith("alien-server:")]
        assert line.startswith(f"alien-server: configuration error: {expected}"), output


def test_the_simulated_engine_settings():
    assert Settings.from_env({}).simulate is False
    s = Settings.from_env({"ALIEN_SIMULATE": "1", "ALIEN_SIMULATE_TICK_MS": "50"})
    assert s.simulate is True and s.simulate_tick_ms == 50
    with pytest.raises(ValueError, match="ALIEN_SIMULATE_TICK_MS"):
        Settings.from_env({"ALIEN_SIMULATE_TICK_MS": "0"})
