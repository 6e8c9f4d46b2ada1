"""`alien-server backup PATH`: a consistent copy of the database, taken while the server runs.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies the database page by page as
one consistent snapshot, whatever the workers write meanwhile; the copy is a plain SQLite file
(0600), written beside PATH and renamed into place, so PATH is never half-written. PostgreSQL:
pg_dump is the tool; the command prints the one to run and copies nothing.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click
from playhouse.db_url import parse as parse_db_url

from app.cli.common import fail, load_settings
from app.settings import SQLITE_SCHEMES


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(path: Path) -> None:
    """Copy the database to PATH, consistent while the server serves (SQLite's online backup).
    Restore: stop the server, put the copy in place of the database file (and remove its -wal
    and -shm files), start it. On PostgreSQL, print the pg_dump command to use and exit 1."""
    settings = load_settings()
    url = settings.database_url
    if urlsplit(url).scheme not in SQLITE_SCHEMES:
        parts = urlsplit(url.replace("+pool://", "://", 1))
        if parts.password is not None:  # never printed: pg_dump reads it from the environment
            parts = parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", "@", 1))
        click.echo(
            f"pg_dump --format=custom --file={shlex.quote(str(path))} "
            f"--dbname={shlex.quote(urlunsplit(parts))}"
        )
        fail(
            "on PostgreSQL this command copies nothing: run the pg_dump command above (the "
            "password from PGPASSWORD or ~/.pgpass); restore with pg_restore --clean --dbname=…"
        )
    source = Path(parse_db_url(url)["database"])
    if not source.is_file():
        fail(f"no database at {source} (DATABASE_URL, ALIEN_STATE_DIR)")
    if path.exists():
        fail(f"{path} exists: name a new file")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with sqlite3.connect(source) as live:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            copy = sqlite3.connect(partial)
            try:
                live.backup(copy)
            finally:
                copy.close()
        live.close()
        os.replace(partial, path)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        fail(f"backup to {path} failed: {exc}")
    click.echo(f"backed up {source} to {path} ({path.stat().st_size} bytes)")
