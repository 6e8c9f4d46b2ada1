"""The operator's command line, `alien-server` (docs/behaviour.md §2 and §12).

Every command reads the same environment as the server (`DATABASE_URL`, `ALIEN_STATE_DIR`, ...)
and works on the same database, so run it where the server runs. Commands that touch the
database migrate it first, and never bootstrap: only a server start registers
`ALIEN_ADMIN_TOKEN` or mints the first admin token.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn

import click

from app import open_storage, write_admin_token
from app.fixtures_cli import fixtures
from app.settings import ConfigError, Settings
from handlers.deployment_groups import render as render_group
from models.db import db
from models.groups import DEFAULT_MAX_DEPLOYMENTS, DeploymentGroup
from models.tokens import ADMIN, DEPLOYMENT, GROUP, Token, TokenSelectionError
from simulator.cli import command as simulate

EX_FAILED = 1  # the command could not do what was asked (unknown or ambiguous token, ...)
EX_USAGE = 2  # click's own: a bad option or argument
EX_CONFIG = 78  # sysexits' EX_CONFIG: a variable cannot be parsed, the database cannot be opened
CONFIGURED_NOTE = (
    "note: {} came from ALIEN_ADMIN_TOKEN; servers still configured with that value no longer "
    "accept it: set a new value (or unset it) before their next start"
)
EPILOG = (
    "Exit codes: 0 done; 1 the command failed (e.g. unknown or ambiguous token); "
    "2 bad usage; 78 configuration error (one line on stderr names the variable)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
def cli() -> None:
    """Run and operate the Alien Server: serve, admin tokens, tokens, groups, configuration."""


def main() -> None:
    cli(prog_name="alien-server")


def fail(message: str, code: int = EX_FAILED) -> NoReturn:
    click.echo(f"alien-server: {message}", err=True)
    sys.exit(code)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EX_CONFIG)


@contextmanager
def storage() -> Iterator[Settings]:
    """The settings, with the database opened, migrated and connected for the command."""
    settings = load_settings()
    try:
        open_storage(settings)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", EX_CONFIG)
    with db.connection_context():
        yield settings


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


@cli.group()
def tokens() -> None:
    """List and revoke bearer tokens (never shows a hash or a whole token)."""


KINDS = {"admin": ADMIN, "group": GROUP, "deployment": DEPLOYMENT}


@tokens.command("list")
@click.option("--kind", type=click.Choice(sorted(KINDS)), help="Only tokens of this kind.")
@click.option("--group", "group_id", metavar="ID", help="Only tokens of this deployment group.")
@click.option("--all", "revoked", is_flag=True, help="Revoked tokens too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_tokens(kind: str | None, group_id: str | None, revoked: bool, as_json: bool) -> None:
    """Every active token: id, kind, prefix, group, deployment, created, last used (to the
    minute); with --all the revoked ones too, and when they were revoked."""
    with storage():
        rows: list[dict[str, Any]] = [
            {
                "id": t.id,
                "kind": t.kind,
                "prefix": t.prefix,
                "group": t.deployment_group_id,
                "deployment": t.deployment_id,
                "created": _time(t.created_at),
                "lastUsed": _time(t.last_used_at),
                "configured": t.configured,
                "revoked": _time(t.revoked_at),
            }
            for t in Token.listing(KINDS.get(kind or ""), group_id, revoked)
        ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    header = ["ID", "KIND", "PREFIX", "GROUP", "DEPLOYMENT", "CREATED", "LAST USED", "REVOKED"]
    _table(
        header[: 8 if revoked else 7],
        [
            [
                r["id"],
                r["kind"] + (" (ALIEN_ADMIN_TOKEN)" if r["configured"] else ""),
                r["prefix"] + "…",
                r["group"] or "-",
                r["deployment"] or "-",
                r["created"],
                r["lastUsed"] or "never",
                r["revoked"] or "-",
            ][: 8 if revoked else 7]
            for r in rows
        ],
    )


@tokens.command("revoke")
@click.argument("selector", metavar="PREFIX|ID")
def revoke_token(selector: str) -> None:
    """Revoke one token, named by the start of its prefix (as `tokens list` shows it), its id
    (tok_…) or the whole token. It stops working at once on every worker and instance."""
    with storage():
        try:
            token = Token.revoke(selector)
        except TokenSelectionError as exc:
            fail(str(exc))
    click.echo(f"revoked {token.id} ({token.kind}, {token.prefix}…)")
    if token.configured:
        click.echo(CONFIGURED_NOTE.format(token.id), err=True)


@cli.group()
def groups() -> None:
    """List and create deployment groups."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_groups(as_json: bool) -> None:
    """Every deployment group: id, name, deployments and limit, created."""
    with storage():
        rows = [
            render_group(g) for g in DeploymentGroup.select().order_by(DeploymentGroup.created_at)
        ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    _table(
        ["ID", "NAME", "DEPLOYMENTS", "MAX", "CREATED"],
        [
            [r["id"], r["name"], r["deploymentCount"], r["maxDeployments"], r["createdAt"]]
            for r in rows
        ],
    )


@groups.command("create")
@click.argument("name")
@click.option(
    "--max-deployments",
    type=click.IntRange(0, 2**63 - 1),
    default=DEFAULT_MAX_DEPLOYMENTS,
    show_default=True,
)
def create_group(name: str, max_deployments: int) -> None:
    """Create a deployment group and print its id."""
    if not name.strip():
        fail("the group name must not be empty", EX_USAGE)
    with storage():
        group = DeploymentGroup.create_new(name, max_deployments)
    click.echo(group.id)


# The simulated deployment engine: an HTTP client of the API, in a package of its own.
cli.add_command(simulate)
# Test mode's fixtures: load a file into a database, or reset one to it (docs/behaviour.md §13).
cli.add_command(fixtures)


@cli.command("check-config")
def check_config() -> None:
    """Print the effective settings (secrets masked) and where each comes from; exit 78 with
    one line naming the variable when one cannot be parsed."""
    rows = load_settings().effective()
    _table(["VARIABLE", "VALUE", "FROM"], [list(row) for row in rows])


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(header: list[str], rows: list[list[Any]]) -> None:
    cells = [header, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
