"""A state directory or SQLite file another local user could have written is refused at start
(issue 21 item 6: a pre-created 0666 `alien.db` gave its maker admin), and a state directory
that cannot be created is a configuration error: one line, exit 78, from `serve` (gunicorn's
master, before any worker) and from every other command (docs/behaviour.md §12)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from app.settings import ConfigError, Settings
from app.state_dir import prepare_state_dir
from harness import pg
from harness.server import free_port
from tests import cli

pytestmark = [pg.once(), pytest.mark.slow]  # files on disk; each command a fresh process

NOBODY = 65534


def world_writable_dir(state: Path) -> None:
    state.chmod(0o777)


def database_writable_by_others(state: Path) -> None:
    (state / "alien.db").touch(mode=0o600)
    (state / "alien.db").chmod(0o666)


def wal_writable_by_others(state: Path) -> None:
    (state / "alien.db-wal").touch(mode=0o600)
    (state / "alien.db-wal").chmod(0o622)


def database_of_another_user(state: Path) -> None:
    (state / "alien.db").touch(mode=0o600)
    os.chown(state / "alien.db", NOBODY, -1)


def dir_of_another_user(state: Path) -> None:
    os.chown(state, NOBODY, -1)


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "state dir mode 0777": (world_writable_dir, "can be written by other users (mode 0777)"),
    "alien.db mode 0666": (database_writable_by_others, "can be written by other users"),
    "alien.db-wal mode 0622": (wal_writable_by_others, "can be written by other users"),
    "alien.db of another user": (database_of_another_user, "belongs to another user"),
    "state dir of another user": (dir_of_another_user, "belongs to another user"),
}


def arranged(tmp_path: Path, case: str) -> Settings:
    arrange, _ = HOSTILE[case]
    if "another user" in case and os.geteuid() != 0:
        pytest.skip("giving a file to another user needs root")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    arrange(state)
    return Settings(state_dir=state, database_url=f"sqlite:///{state / 'alien.db'}")


@pytest.mark.parametrize("case", HOSTILE)
def test_a_state_another_user_could_have_written_is_refused(tmp_path, case):
    with pytest.raises(ConfigError, match=re.escape(HOSTILE[case][1])):
        prepare_state_dir(arranged(tmp_path, case))


@pytest.mark.parametrize(
    ("command", "case"),
    [(["serve"], "state dir mode 0777"), (["tokens", "list"], "alien.db mode 0666")],
    ids=["serve", "tokens list"],
)
def test_the_refusal_is_one_line_and_exit_78(tmp_path, command, case):
    settings = arranged(tmp_path, case)
    result = cli.run(
        *command, database_url=settings.database_url, state_dir=settings.state_dir,
        PORT=str(free_port()),
    )  # fmt: skip
    assert result.returncode == 78, result
    [line] = result.stderr.splitlines()
    assert line.startswith("alien-server: configuration error: "), line
    assert HOSTILE[case][1] in line, line


@pytest.mark.parametrize("command", [["serve"], ["tokens", "list"]], ids=" ".join)
def test_a_state_dir_that_cannot_be_created_is_a_configuration_error(tmp_path, command):
    (tmp_path / "file").touch()
    state = tmp_path / "file" / "state"
    result = cli.run(
        *command, database_url=f"sqlite:///{tmp_path / 'alien.db'}", state_dir=state,
        PORT=str(free_port()),
    )  # fmt: skip
    assert result.returncode == 78, result
    [line] = result.stderr.splitlines()
    assert "ALIEN_STATE_DIR=" in line and "cannot be created" in line, line


def test_a_private_state_is_accepted_and_made_owner_only(tmp_path):
    settings = Settings(state_dir=tmp_path / "state", database_url="sqlite:///:memory:")
    prepare_state_dir(settings)
    assert (settings.state_dir.stat().st_mode & 0o777) == 0o700
