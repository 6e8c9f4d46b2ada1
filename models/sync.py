"""The sync protocol's one home: leases on deployments, reconcile, release, operator targets.

A lease is `locked_by` (the worker's session string) and `locked_at`. It is live for
`ttl_seconds`; after that it is stale and the next acquire takes it over (docs/behaviour.md §7).

Every state change here is one transaction. On PostgreSQL acquire reads its candidates with
`SELECT ... FOR UPDATE SKIP LOCKED`, so concurrent acquires never wait on each other and never
see the same row; on SQLite every transaction is BEGIN IMMEDIATE, which serialises writers.
The same code runs on both (`models.db.locking` is a no-op on SQLite).

Acquire reads its candidates in two disjoint parts (`_free_leases`), each through indexes of
its own, so its cost does not grow with the deployments and live leases it passes over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from models import clock, lifecycle
from models.db import db, locking, queued_write
from models.deployments import (
    DELETION_PATH,
    FAILED,
    HAS_WORK,
    LEASE_TAKEN,
    LEASED,
    UNLEASED_WITH_WORK,
    Deployment,
)
from models.errors import BadRequest, DeploymentLocked, DeploymentNotFound
from models.history import Cause, record
from models.releases import Release
from models.tokens import Caller

DEFAULT_LIMIT = 10

D = Deployment


def acquire(
    caller: Caller,
    session: str,
    *,
    ttl_seconds: int,
    limit: int = DEFAULT_LIMIT,
    deployment_ids: Sequence[str] | None = None,
    platforms: Sequence[str] | None = None,
    statuses: Sequence[str] | None = None,
) -> list[Deployment]:
    """Lease up to `limit` deployments to `session`, oldest first, and return them as stored.

    Candidates: work to do (§7.1) and not held by another session's live lease. Every filter
    given narrows the set (an empty list matches nothing), and so does the caller's scope.
    """
    conditions = _scope(caller)
    for column, values in ((D.id, deployment_ids), (D.platform, platforms), (D.status, statuses)):
        if values is not None:
            if not values:
                return []
            conditions.append(column.in_(list(values)))
    if limit <= 0:
        return []
    leased = _lease(session, conditions, limit, ttl_seconds)
    _remove_deleted(ttl_seconds)  # after the leases: acquire's own reads come first
    return leased


def _lease(session: str, conditions: list[Any], limit: int, ttl_seconds: int) -> list[Deployment]:
    with db.atomic():
        now = clock.now()  # inside the transaction: on SQLite the writer lock is held from here
        found = [_oldest(D.select().where(UNLEASED_WITH_WORK, *conditions), limit)]
        free, leases = _free_leases(session, now, ttl_seconds)
        if leases:  # checked again on the rows taken: another acquire may have leased one since
            leased = D.select().where(D.id.in_(leases), free, HAS_WORK, *conditions)
            found.append(_oldest(leased, limit))
        ids = [ident for part in found for ident in part]
        if all(found) and len(ids) > limit:  # both parts found some: the oldest of them
            oldest = D.select(D.id).where(D.id.in_(ids)).order_by(D.created_at, D.id)
            ids = [row.id for row in oldest.limit(limit)]
        if not ids:
            return []
        seen = {"retry_unseen": False, "redeploy_unseen": False}  # the requests are handed over
        D.update(locked_by=session, locked_at=now, **seen).where(D.id.in_(ids)).execute()
        return list(D.select().where(D.id.in_(ids)).order_by(D.created_at, D.id))


def _remove_deleted(ttl_seconds: int) -> None:
    """Remove the deployments reported `deleted` whose lease is gone or stale (a worker that
    reported `deleted` and then died without releasing)."""
    stale = LEASE_TAKEN < D.locked_at.db_value(clock.now() - timedelta(seconds=ttl_seconds))
    done = D.select(D.id).where((D.status == "deleted") & (D.locked_by.is_null() | stale))
    for row in done:
        lifecycle.remove_deployment(row.id)


def _free_leases(session: str, now: datetime, ttl_seconds: int) -> tuple[Any, list[str]]:
    """The leases acquire may take, this session's own and stale ones: as a condition, and the
    ids of the deployments that have one now.

    Acquire's candidates come in two disjoint parts, each read through indexes of its own
    (models/deployments.py) so that neither walks past rows it cannot take: the unleased
    deployments with work, from the partial index of exactly those in acquire's order; and
    these leases, found by holder and by age. The ids are read on their own, by a query only
    the lease indexes can answer (with a group filter beside them a planner may walk the
    group's rows instead); most of the time there are none.
    """
    stale = LEASE_TAKEN < D.locked_at.db_value(now - timedelta(seconds=ttl_seconds))
    leased = D.select(D.id).where(LEASED)
    ids = leased.where(D.locked_by == session) | leased.where(stale)
    return LEASED & ((D.locked_by == session) | stale), [ident for (ident,) in ids.tuples()]


def _oldest(candidates: Any, limit: int) -> list[str]:
    """The ids of the oldest `limit` candidates that no concurrent acquire is taking."""
    query = candidates.select(D.id).order_by(D.created_at, D.id).limit(limit)
    return [row.id for row in locking(query, skip_locked=True)]


def lease_counts(now: datetime, ttl_seconds: int) -> tuple[int, int]:
    """How many leases are held (live) and how many are stale (taken over by the next acquire)."""
    stale_before = now - timedelta(seconds=ttl_seconds)
    stale = D.locked_at.is_null() | (D.locked_at < stale_before)
    leased = D.select().where(D.locked_by.is_null(False))
    return leased.where(~stale).count(), leased.where(stale).count()


def _scope(caller: Caller) -> list[Any]:
    """The caller's reach (Caller.confined_to) as conditions on deployments."""
    group_id, deployment_id = caller.confined_to
    return [column == value for column, value in ((D.deployment_group, group_id),
            (D.id, deployment_id)) if value is not None]  # fmt: skip


def is_held_by_other(deployment: Deployment, session: str, now: datetime, ttl: int) -> bool:
    """Whether another session holds a live (not yet stale) lease on the deployment."""
    if deployment.locked_by is None or deployment.locked_by == session:
        return False
    return deployment.locked_at is not None and deployment.locked_at >= now - timedelta(seconds=ttl)


def reconcile(
    caller: Caller,
    deployment_id: str,
    session: str,
    state: dict[str, Any],
    *,
    heartbeat: bool,
    ttl_seconds: int,
) -> Deployment:
    """Store a worker's report of a deployment's state (§7.2); return the row as stored.

    One transaction: checks, the column mapping and post-reconcile update detection. The
    status reported is stored unless it would undo a request the worker has not seen
    (`status_after`); a deployment reported `deleted` is removed when the reporting session
    releases its lease, or when that lease goes stale (`release`, `_remove_deleted`).
    """
    current = (state.get("currentRelease") or {}).get("releaseId")
    with db.atomic():
        if state["status"] == "running":
            lifecycle.release_fence(shared=True)  # before any row lock: same order as releases
        deployment = locking(D.select().where(D.id == deployment_id)).first()
        if deployment is None:
            raise DeploymentNotFound(deployment_id)
        caller.require_deployment(deployment.id, deployment.deployment_group_id)
        now = clock.now()
        if is_held_by_other(deployment, session, now, ttl_seconds):
            raise DeploymentLocked(deployment_id, deployment.locked_by)
        if state["platform"] != deployment.platform:
            raise BadRequest(
                f"State platform '{state['platform']}' does not match the deployment's "
                f"platform '{deployment.platform}'",
                {"deployment_id": deployment_id},
            )
        status = status_after(deployment, state["status"])
        retry = deployment.retry_unseen and status in FAILED  # a retry asked for since acquire
        values: dict[str, Any] = {
            "status": status,
            "stack_state": state.get("stackState"),
            "environment_info": state.get("environmentInfo"),
            "runtime_metadata": state.get("runtimeMetadata"),
            "current_release_id": current,
            "retry_requested": retry,
            "retry_unseen": retry,
            "error": first_resource_error(state.get("stackState")) if status in FAILED else None,
            "updated_at": now,
        }
        if current is not None and deployment.desired_release_id == current:
            values["desired_release_id"] = None
        if heartbeat and deployment.locked_by == session:
            values["locked_at"] = now
        if status == "deleted" and deployment.locked_by != session:
            # A pull-mode operator reports without a lease: it gets one, so that its release
            # (or the lease going stale) is what removes the deployment.
            values |= {"locked_by": session, "locked_at": now}
        D.update(**values).where(D.id == deployment_id).execute()
        record(deployment_id, deployment.status, status, Cause.by_session(session))
        if status == "running" and current is not None:
            _detect_update(deployment_id, deployment.platform, current, now, session)
        stored: Deployment = D.get(D.id == deployment_id)
    return stored


def status_after(deployment: Deployment, reported: str) -> str:
    """The status a reconcile reporting `reported` leaves `deployment` in (§7.2).

    A deployment an admin asked to delete moves only forward along the deletion path; one not
    asked to be deleted cannot be reported `deleted` (only DELETE starts a deletion); a
    redeploy no engine has acquired yet stays `update-pending`.
    """
    if deployment.status in DELETION_PATH:
        return reported if reported in DELETION_PATH[deployment.status] else deployment.status
    if reported == "deleted":
        raise BadRequest(
            f"Deployment '{deployment.id}' cannot be reported deleted: no deletion was "
            "requested (DELETE /v1/deployments/{id} starts one)",
            {"deployment_id": deployment.id},
        )
    if deployment.redeploy_unseen and reported not in DELETION_PATH:
        return "update-pending"
    return reported


def first_resource_error(stack_state: dict[str, Any] | None) -> Any:
    """The first resource error in a stack state, in the order the resources were reported."""
    for resource in ((stack_state or {}).get("resources") or {}).values():
        if isinstance(resource, dict) and resource.get("error") is not None:
            return resource["error"]
    return None


def _detect_update(
    deployment_id: str, platform: str, current_id: str, now: datetime, session: str
) -> None:
    """A running deployment whose platform got a newer release than its current one is due
    for an update: the §6 propagation it missed while it was busy."""
    current = Release.get_or_none(Release.id == current_id)
    if current is None:
        return
    newest = Release.newest_for_platform(platform, newer_than=current)
    if newest is not None:
        D.update(desired_release_id=newest, status="update-pending", updated_at=now).where(
            D.id == deployment_id
        ).execute()
        record(deployment_id, "running", "update-pending", Cause.by_session(session))


def release(caller: Caller, deployment_id: str, session: str) -> None:
    """Give up `session`'s lease, if it still has one. Idempotent: a lease already gone (taken
    over, released) or a deployment already removed is not an error. A deployment reported
    `deleted` is removed once its lease is released."""
    row = D.select(D.id, D.deployment_group).where(D.id == deployment_id).first()
    if row is not None:
        caller.require_deployment(row.id, row.deployment_group_id)
    else:
        caller.require_deployment_id(deployment_id)
    with queued_write():  # among the acquires and reconciles, not behind them all
        released = (
            D.update(locked_by=None, locked_at=None)
            .where((D.id == deployment_id) & (D.locked_by == session))
            .execute()
        )
    done = (D.id == deployment_id) & (D.status == "deleted") & D.locked_by.is_null()
    if released and D.select().where(done).exists():
        lifecycle.remove_deployment(deployment_id)


def operator_target(caller: Caller, deployment_id: str) -> tuple[Deployment, Release] | None:
    """What a pull-mode operator should deploy (§7.4): the desired release when it differs
    from the current one and exists with a stack for the platform; None when up to date."""
    deployment = D.existing(deployment_id)
    caller.require_deployment(deployment.id, deployment.deployment_group_id)
    desired = deployment.desired_release_id
    if desired is None or desired == deployment.current_release_id:
        return None
    release = Release.get_or_none(Release.id == desired)
    if release is None or release.stack_for(deployment.platform) is None:
        return None
    return deployment, release
