"""`fixtures load FILE` and `fixtures reset [FILE]`: test-mode fixtures from the command line
(docs/behaviour.md §13.1, §13.2), against the database DATABASE_URL names.

`load` adds a file's objects to a database a server may be using (those already there stay as
they are); `reset` empties every table but the admin tokens and loads the file, the same
transaction as `POST /_test/reset`, for a stopped server. Both need ALIEN_TEST_MODE=1: they
write tokens whose values are public. Also `python -m app.cli.fixture_commands`.
"""

from __future__ import annotations

from pathlib import Path

import click

from app.settings import Settings
from app.storage import prepare_storage
from app.testmode.fixture_file import FixtureError, read
from models import fixture_store
from models.db import db

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _ready(file: Path | None) -> tuple[Settings, fixture_store.Fixtures]:
    settings = Settings.from_env()
    if not settings.test_mode:
        raise click.ClickException(
            "fixtures commands need ALIEN_TEST_MODE=1 (fixture tokens have public values)"
        )
    file = file or settings.fixtures
    try:
        loaded = read(file) if file is not None else fixture_store.Fixtures()
    except FixtureError as exc:
        raise click.ClickException(str(exc)) from None
    prepare_storage(settings)
    with db.connection_context():
        fixture_store.prepare()
    return settings, loaded


@click.group("fixtures")
def fixtures_command() -> None:
    """Test-mode fixtures (ALIEN_TEST_MODE=1)."""


@fixtures_command.command("load")
@click.argument("file", type=FILE)
def load(file: Path) -> None:
    """Add FILE's objects to the database; objects already there are left as they are."""
    _, loaded = _ready(file)
    with db.connection_context():
        fixture_store.load(loaded)
    click.echo(f"{file}: {loaded.count()} fixture objects present")


@fixtures_command.command("reset")
@click.argument("file", type=FILE, required=False)
def reset(file: Path | None) -> None:
    """Empty every table but the admin tokens and load FILE (default: ALIEN_FIXTURES)."""
    settings, loaded = _ready(file)
    with db.connection_context():
        fixture_store.reset(loaded, settings.admin_token)
    click.echo(f"reset: {loaded.count()} fixture objects loaded")


if __name__ == "__main__":
    fixtures_command()
