"""What the console shows (app/console/, docs/behaviour.md §12): read-only queries, each within
the caller's reach as the API draws it (an admin everything, a group token its group, a
deployment token its deployment), each bounded so one poll costs the same at any size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee

from models.deployments import Deployment
from models.groups import DeploymentGroup
from models.history import StatusChange
from models.releases import Release, ReleasePlatform
from models.tokens import Caller

SHOWN_GROUPS = 100
SHOWN_DEPLOYMENTS = 200
SHOWN_RELEASES = 20

D = Deployment
#: The columns the console shows: not the stored documents (stack state can be 256 KiB).
LISTED = (
    D.id, D.name, D.deployment_group, D.platform, D.status, D.current_release_id,
    D.desired_release_id, D.locked_by, D.locked_at, D.created_at, D.updated_at, D.error,
)  # fmt: skip


@dataclass(frozen=True)
class Filters:
    group: str | None = None
    status: str | None = None
    platform: str | None = None


def _in_reach(query: Any, caller: Caller, filters: Filters, *, with_status: bool) -> Any:
    """`query` narrowed to the caller's reach and the filters."""
    group_id, deployment_id = caller.confined_to
    conditions = [D.id == deployment_id] if deployment_id is not None else []
    for column, value in (
        (D.deployment_group, group_id),
        (D.deployment_group, filters.group),
        (D.platform, filters.platform),
        (D.status, filters.status if with_status else None),
    ):
        if value is not None:
            conditions.append(column == value)
    return query.where(*conditions) if conditions else query


def groups(caller: Caller) -> list[DeploymentGroup]:
    """The groups in reach, newest first."""
    g = DeploymentGroup
    query = g.select().order_by(g.created_at.desc(), g.id.desc()).limit(SHOWN_GROUPS)
    if caller.listed_groups is not None:
        query = query.where(g.id == caller.listed_groups)
    return list(query)


def deployments(caller: Caller, filters: Filters) -> list[dict[str, Any]]:
    """The newest deployments in reach that pass the filters: dicts of the `LISTED` columns by
    field name (`deployment_group` the group's id), values converted as the model's fields do.
    Not model instances: building those was two thirds of a console read. Not named tuples
    either: peewee makes a class for every query, which only the collector's rare full passes
    free (a page left open grew a worker by ~100 KB a minute)."""
    query = _in_reach(D.select(*LISTED), caller, filters, with_status=True)
    newest = query.order_by(D.created_at.desc(), D.id.desc()).limit(SHOWN_DEPLOYMENTS)
    return list(newest.dicts())


def counts_by_status(caller: Caller, filters: Filters) -> dict[str, int]:
    """How many deployments in reach have each status (the group and platform filters apply)."""
    count = peewee.fn.COUNT(D.id)
    query = _in_reach(D.select(D.status, count), caller, filters, with_status=False)
    return dict(query.group_by(D.status).tuples())


def platforms(caller: Caller) -> list[str]:
    """The platforms of the deployments in reach."""
    query = _in_reach(D.select(D.platform), caller, Filters(), with_status=False)
    return sorted(p for (p,) in query.distinct().tuples())


def releases() -> list[tuple[Release, list[str]]]:
    """The newest releases, each with its platforms (no stacks read)."""
    r, rp = Release, ReleasePlatform
    newest = list(
        r.select(r.id, r.created_at)
        .order_by(r.created_at.desc(), r.id.desc())
        .limit(SHOWN_RELEASES)
    )
    found: dict[str, list[str]] = {release.id: [] for release in newest}
    if found:
        rows: Any = rp.select(rp.release, rp.platform).where(rp.release.in_(list(found)))
        for release_id, platform in rows.tuples():
            found[release_id].append(platform)
    return [(release, sorted(found[release.id])) for release in newest]


def history(caller: Caller, deployment_id: str) -> list[StatusChange]:
    """A deployment's kept status changes, newest first: 404 for a missing deployment before
    403 for one out of reach, as the API's reads."""
    deployment = Deployment.existing(deployment_id)
    caller.require_deployment(deployment.id, deployment.deployment_group_id)
    return StatusChange.recent(deployment_id)
