"""`alien-server tokens list|revoke`: bearer tokens, never a hash or a whole token."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from app.cli.common import CONFIGURED_NOTE, fail, moment, storage, table
from handlers.render import iso
from models.tokens import ADMIN, DEPLOYMENT, GROUP, Token, TokenSelectionError


@click.group()
def tokens() -> None:
    """List and revoke bearer tokens (never shows a hash or a whole token)."""


#: The kinds by the names `tokens list` prints (ADMIN, GROUP, DEPLOYMENT are those names).
KINDS = (ADMIN, GROUP, DEPLOYMENT)
#: What `tokens list` prints after a prefix; `tokens revoke` takes the prefix with it or without.
ELLIPSES = ("…", "...")


def when(at: datetime | None) -> str | None:
    return None if at is None else iso(at)


@tokens.command("list")
@click.option("--kind", type=click.Choice(KINDS), help="Only tokens of this kind.")
@click.option("--group", "group_id", metavar="ID", help="Only tokens of this deployment group.")
@click.option("--all", "revoked", is_flag=True, help="Revoked tokens too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_tokens(kind: str | None, group_id: str | None, revoked: bool, as_json: bool) -> None:
    """Every active token: id, kind, prefix, group, deployment, created, last used (to the
    minute, UTC); with --all the revoked ones too, and when they were revoked."""
    with storage():
        listed = Token.listing(kind, group_id, revoked)
    if as_json:  # times in the API's format, as `groups list --json`
        for t in listed:
            row = {"id": t.id, "kind": t.kind, "prefix": t.prefix,
                   "group": t.deployment_group_id, "deployment": t.deployment_id,
                   "created": when(t.created_at), "lastUsed": when(t.last_used_at),
                   "configured": t.configured, "revoked": when(t.revoked_at)}  # fmt: skip
            click.echo(json.dumps(row))
        return
    rows: list[dict[str, Any]] = [
        {
            "id": t.id,
            "kind": t.kind,
            "prefix": t.prefix,
            "group": t.deployment_group_id,
            "deployment": t.deployment_id,
            "created": moment(t.created_at),
            "lastUsed": moment(t.last_used_at),
            "configured": t.configured,
            "revoked": moment(t.revoked_at),
        }
        for t in listed
    ]
    header = ["ID", "KIND", "PREFIX", "GROUP", "DEPLOYMENT", "CREATED", "LAST USED", "REVOKED"]
    table(
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
    """Revoke one token, named by the start of its prefix (as `tokens list` shows it, with or
    without the …), its id (tok_…) or the whole token. It stops working at once on every worker
    and instance."""
    for ellipsis in ELLIPSES:
        selector = selector.removesuffix(ellipsis)
    with storage():
        try:
            token = Token.revoke(selector)
        except TokenSelectionError as exc:
            fail(str(exc))
    click.echo(f"revoked {token.id} ({token.kind}, {token.prefix}…)")
    if token.configured:
        click.echo(CONFIGURED_NOTE.format(token.id), err=True)
