"""`alien-server backup PATH` (docs/behaviour.md §12): on SQLite a consistent copy that
restores; on PostgreSQL the pg_dump command to run instead."""

from __future__ import annotations

import json
import stat
import threading

import pytest

from harness import pg
from tests import cli

pytestmark = pytest.mark.slow  # each command is a fresh process


@pytest.mark.skipif(pg.backend() != "sqlite", reason="SQLite's online backup; PostgreSQL below")
def test_a_backup_taken_while_writing_restores(api, settings, database_url, tmp_path):
    before = api.group("before")
    writing = threading.Event()
    written: list[str] = []

    def writer() -> None:  # the server keeps writing while the copy is taken
        while not writing.is_set():
            written.append(api.group(f"w{len(written)}"))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        copy = tmp_path / "backups" / "alien.db"
        copy.parent.mkdir()
        made = cli.run("backup", str(copy), database_url=database_url, state_dir=settings.state_dir)
    finally:
        writing.set()
        thread.join()
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("backed up ") and stat.S_IMODE(copy.stat().st_mode) == 0o600
    after = api.group("after")

    restored = tmp_path / "restored"  # a new state directory, the copy as its database
    restored.mkdir()
    (restored / "alien.db").write_bytes(copy.read_bytes())
    listed = cli.run("groups", "list", "--json", database_url="", state_dir=restored)
    assert listed.returncode == 0, listed.stderr
    names = {json.loads(line)["id"] for line in listed.stdout.splitlines()}
    assert before in names and after not in names
    copied = [group for group in written if group in names]
    assert copied == written[: len(copied)]  # one moment's snapshot: every write before it

    again = cli.run("backup", str(copy), database_url=database_url, state_dir=settings.state_dir)
    assert (
        again.returncode == 1 and again.stderr == f"alien-server: {copy} exists: name a new file\n"
    )


@pytest.mark.skipif(pg.backend() != "postgres", reason="PostgreSQL: pg_dump's command")
def test_on_postgresql_the_pg_dump_command_is_printed(settings, tmp_path):
    url = "postgresql://alien:hunter2@db.example:5432/alien"
    made = cli.run("backup", "/backups/alien.dump", database_url=url, state_dir=settings.state_dir)
    assert made.returncode == 1
    assert made.stdout == (
        "pg_dump --format=custom --file=/backups/alien.dump "
        "--dbname=postgresql://alien@db.example:5432/alien\n"
    )
    assert "hunter2" not in made.stdout + made.stderr and "pg_restore" in made.stderr
