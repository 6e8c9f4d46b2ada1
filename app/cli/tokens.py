"""`alien-server tokens list|revoke`: bearer tokens, never a hash or a whole token."""

from __future__ import annotations

import json
from typing import Any

import click

from app.cli.common import CONFIGURED_NOTE, fail, moment, storage, table
from models.tokens import ADMIN, DEPLOYMENT, GROUP, Token, TokenSelectionError


@click.group()
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
                "created": moment(t.created_at),
                "lastUsed": moment(t.last_used_at),
                "configured": t.configured,
                "revoked": moment(t.revoked_at),
            }
            for t in Token.listing(KINDS.get(kind or ""), group_id, revoked)
        ]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
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
