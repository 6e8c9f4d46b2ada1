"""What every command shares: the exit codes, one-line failures, and the storage to work on."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import click

from app.settings import EX_CONFIG, ConfigError, Settings, exit_for_config_error
from app.storage import open_storage
from models.db import db

EX_FAILED = 1  # the command could not do what was asked (unknown or ambiguous token, ...)
EX_USAGE = 2  # click's own: a bad option or argument
CONFIGURED_NOTE = (
    "note: {} came from ALIEN_ADMIN_TOKEN; servers still configured with that value no longer "
    "accept it: set a new value (or unset it) before their next start"
)
EPILOG = (
    "Exit codes: 0 done; 1 the command failed (e.g. unknown or ambiguous token); "
    f"2 bad usage; {EX_CONFIG} configuration error (one line on stderr names the variable)."
)


def fail(message: str, code: int = EX_FAILED) -> NoReturn:
    click.echo(f"alien-server: {message}", err=True)
    sys.exit(code)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        exit_for_config_error(exc)


@contextmanager
def storage() -> Iterator[Settings]:
    """The settings, with the database opened, migrated and connected for the command."""
    settings = load_settings()
    try:
        open_storage(settings)
    except ConfigError as exc:
        exit_for_config_error(exc)
    with db.connection_context():
        yield settings


def moment(moment: datetime | None) -> str | None:
    """A time in a table, every command alike: UTC to the minute (a token's last use is only
    recorded to the minute); `--json` gives the API's full timestamps instead."""
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%MZ")


def table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
