"""`alien-server groups list|create`: deployment groups, as the API shows them."""

from __future__ import annotations

import json

import click

from app.cli.common import EX_USAGE, fail, moment, storage, table
from handlers import render
from models.groups import DEFAULT_MAX_DEPLOYMENTS, DeploymentGroup


@click.group()
def groups() -> None:
    """List and create deployment groups."""


@groups.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_groups(as_json: bool) -> None:
    """Every deployment group: id, name, deployments and limit, created (to the minute, UTC)."""
    with storage():
        listed = list(DeploymentGroup.select().order_by(DeploymentGroup.created_at))
        rows = [render.group(g) for g in listed]
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table(
        ["ID", "NAME", "DEPLOYMENTS", "MAX", "CREATED"],
        [
            [r["id"], r["name"], r["deploymentCount"], r["maxDeployments"], moment(g.created_at)]
            for r, g in zip(rows, listed, strict=True)
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
