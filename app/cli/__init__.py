"""The operator's command line, `alien-server` (docs/behaviour.md §2 and §12).

Every command reads the same environment as the server (`DATABASE_URL`, `ALIEN_STATE_DIR`, ...)
and works on the same database, so run it where the server runs. Commands that touch the
database migrate it first, and never bootstrap: only a server start registers
`ALIEN_ADMIN_TOKEN` or mints the first admin token.

Here: the command group, `serve`, `admin-token` and `check-config`; `tokens`, `groups`,
`backup` and `fixtures` are modules of their own, `simulate` is the simulator's.
"""

from __future__ import annotations

import os
import sys

import click

from app import __version__
from app.cli.backup import backup
from app.cli.common import CONFIGURED_NOTE, EPILOG, load_settings, storage, table
from app.cli.fixture_commands import fixtures_command
from app.cli.groups import groups
from app.cli.tokens import tokens
from app.contract.spec import operations, raw_spec, sha256
from app.settings import ConfigError, exit_for_config_error, notes
from app.storage import check_database, write_admin_token
from models.tokens import ADMIN, Token
from simulator.cli import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="alien-server", message="%(prog)s %(version)s")
def cli() -> None:
    """Run and operate the Alien Server: serve, admin tokens, tokens, groups, configuration."""


def main() -> None:
    cli(prog_name="alien-server")


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.argument("gunicorn_args", nargs=-1, type=click.UNPROCESSED)
def serve(gunicorn_args: tuple[str, ...]) -> None:
    """Serve the API with gunicorn and uvicorn workers (app/gunicorn_conf.py: HOST, PORT,
    WEB_CONCURRENCY). Further arguments are passed to gunicorn. The configuration is checked
    first: a bad variable stops here with one line."""
    load_settings()
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", *gunicorn_args]
    sys.stdout.flush()
    os.execv(sys.executable, [*argv, "app.asgi:app"])


@cli.command("admin-token")
@click.option(
    "--rotate",
    is_flag=True,
    help="Also revoke every other admin token and rewrite <state dir>/admin-token (mode 0600).",
)
def admin_token(rotate: bool) -> None:
    """Mint a new admin token and print it (for recovery, or with --rotate to replace all)."""
    with storage() as settings:
        if not rotate:
            click.echo(Token.mint(ADMIN))
            return
        raw, revoked = Token.rotate_admin()
    path = write_admin_token(raw, settings.state_dir)
    click.echo(raw)
    click.echo(f"revoked {len(revoked)} other admin token(s); new token in {path}", err=True)
    for token in revoked:
        if token.configured:
            click.echo(CONFIGURED_NOTE.format(token.id), err=True)


@cli.command("check-config")
def check_config() -> None:
    """Print the effective settings (secrets masked) and where each comes from, then check that
    the contract loads and the database answers (creating nothing); exit 78 with one line
    naming the variable when one cannot be parsed or the database does not answer."""
    settings = load_settings()
    table(["VARIABLE", "VALUE", "FROM"], [list(row) for row in settings.effective()])
    click.echo(
        f"\ncontract: openapi.json sha256 {sha256()}, {len(operations(raw_spec()))} operations"
    )
    try:
        click.echo(f"database: {check_database(settings)}")
    except ConfigError as exc:
        exit_for_config_error(exc)
    for note in notes():
        click.echo(f"note: {note}")


cli.add_command(tokens)
cli.add_command(backup)
cli.add_command(groups)
# The simulated deployment engine: an HTTP client of the API, in a package of its own.
cli.add_command(simulate)
# Test mode's fixtures: load a file into a database, or reset one to it (docs/behaviour.md §13).
cli.add_command(fixtures_command)
