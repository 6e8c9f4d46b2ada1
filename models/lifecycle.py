"""Operations that touch several tables. Each is one transaction.

Creating a deployment counts it into its group; removing one counts it out and revokes its
tokens; creating a release retargets the deployments it covers (docs/behaviour.md §6). Every
status change is written to the deployment's history in its transaction (models/history.py).
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from models import clock, revocation
from models.db import advisory_lock, db, locking
from models.deployments import DELETING, FAILED, Deployment
from models.errors import BadRequest
from models.groups import DeploymentGroup
from models.history import Cause, record, record_each
from models.releases import Release
from models.tokens import ADMIN, DEPLOYMENT, Caller, Token


def target_group(caller: Caller, requested: str | None) -> str:
    """The group a new deployment goes into (docs/behaviour.md §5.2)."""
    caller.require_not_deployment("create deployments")
    if not caller.is_admin:
        if requested is not None:
            caller.require_group(requested)
        assert caller.group_id is not None
        return caller.group_id
    if requested is not None:
        return DeploymentGroup.existing(requested).id
    newest = DeploymentGroup.newest()
    if newest is None:
        raise BadRequest("No deployment groups exist. Create one first.")
    return newest.id


def create_deployment(
    group_id: str,
    name: str,
    platform: str,
    stack_settings: dict[str, Any] | None = None,
    *,
    mint_token: bool,
    cause: Cause,
    environment_variables: list[dict[str, Any]] | None = None,
) -> tuple[Deployment, str | None]:
    """Insert a pending deployment aimed at the newest release for its platform."""
    with db.atomic():
        release_fence(shared=True)  # "the newest release" must not miss one being created
        DeploymentGroup.reserve_slot(group_id)
        deployment = Deployment.new(
            group_id,
            name,
            platform,
            stack_settings,
            Release.newest_for_platform(platform),
            environment_variables,
        )
        token = Token.mint(DEPLOYMENT, group_id, deployment.id) if mint_token else None
        record(deployment.id, None, deployment.status, cause)
    return deployment, token


def initialize_operator(
    caller: Caller, name: str | None, platform: str | None
) -> tuple[str, str | None, bool]:
    """A DG token registers a pull-mode deployment, or finds it again by name (§7.5); a
    deployment token is told its own deployment; an admin has none to initialize.

    Returns (deployment id, fresh deployment token or None, created?).
    """
    if caller.is_admin:
        raise BadRequest("Initialize requires a deployment or deployment group token")
    _, own = caller.confined_to
    if own is not None:
        return own, None, False
    group_id = caller.group_id
    assert group_id is not None
    with db.atomic():
        release_fence(shared=True)  # lock order: the fence, then the group row
        # The group row lock serialises initializes of one group, so two operators that
        # re-initialize with the same name at once find one deployment, not make two.
        locking(DeploymentGroup.select().where(DeploymentGroup.id == group_id)).first()
        if name is not None:
            existing = (
                Deployment.select(Deployment.id)
                .where((Deployment.deployment_group == group_id) & (Deployment.name == name))
                .order_by(Deployment.created_at, Deployment.id)
                .first()
            )
            if existing is not None:
                return existing.id, Token.mint(DEPLOYMENT, group_id, existing.id), False
        deployment, token = create_deployment(
            group_id,
            name if name is not None else "operator-" + _random_suffix(),
            platform or "kubernetes",
            {"deploymentModel": "pull"},
            mint_token=True,
            cause=Cause.by_call("initialize", caller.kind),
        )
    assert token is not None
    return deployment.id, token, True


def _random_suffix() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def redeploy(deployment_id: str, cause: Cause) -> None:
    """Set the deployment to `update-pending`, and keep the request until an engine acquires
    it (docs/behaviour.md §7.2); refused for a deployment being deleted (an admin's deletion is
    not undone by a group's redeploy)."""
    _change_status(deployment_id, "update-pending", cause, refuse=DELETING, redeploy_unseen=True)


def mark_delete_pending(deployment_id: str, cause: Cause) -> None:
    """Two-phase deletion, phase one; already deleting stays as it is."""
    _change_status(deployment_id, "delete-pending", cause, unless=DELETING)


def _change_status(
    deployment_id: str,
    status: str,
    cause: Cause,
    unless: frozenset[str] = frozenset(),
    refuse: frozenset[str] = frozenset(),
    **also: Any,
) -> None:
    with db.atomic():
        row = locking(Deployment.select(Deployment.status).where(Deployment.id == deployment_id))
        found = row.first()
        if found is None or found.status in unless:
            return
        if found.status in refuse:
            raise BadRequest(
                f"Deployment '{deployment_id}' is being deleted", {"deployment_id": deployment_id}
            )
        Deployment.update(status=status, updated_at=clock.now(), **also).where(
            Deployment.id == deployment_id
        ).execute()
        record(deployment_id, found.status, status, cause)


def remove_deployment(deployment_id: str) -> bool:
    """Delete a deployment row, count it out of its group, revoke its tokens.

    Returns False when it was already gone (two removers racing: only one counts it out).
    """
    with db.atomic():
        row = locking(Deployment.select().where(Deployment.id == deployment_id)).first()
        if row is None:
            return False
        Token.revoke_for_deployment(deployment_id)
        Deployment.delete().where(Deployment.id == deployment_id).execute()
        DeploymentGroup.release_slot(row.deployment_group_id)
    revocation.revoked()
    return True


def create_release(stack: dict[str, Any], git_metadata: dict[str, Any] | None) -> Release:
    """Insert a release (`Release.accepted` input) and retarget every deployment it covers,
    atomically (§6)."""
    with db.atomic():
        release_fence()
        release = Release.insert_new(stack, git_metadata)
        for platform in stack:
            propagate(release.id, platform)
    return release


def propagate(release_id: str, platform: str) -> None:
    """The table of §6: in-progress and deleting deployments are left alone."""
    d, now = Deployment, clock.now()
    on_platform = d.platform == platform
    running = d.select(d.id).where(on_platform & (d.status == "running"))
    # Locked, and no other can start running meanwhile (the release fence, held exclusively):
    # the history is written for exactly the rows the UPDATE below changes.
    locking(running).execute()
    record_each(running, "running", "update-pending", Cause.by_call("create_release", ADMIN))
    d.update(desired_release_id=release_id, updated_at=now).where(
        on_platform & d.status.in_(["pending", "update-pending"])
    ).execute()
    d.update(desired_release_id=release_id, status="update-pending", updated_at=now).where(
        on_platform & (d.status == "running")
    ).execute()
    d.update(desired_release_id=release_id, retry_requested=True, updated_at=now).where(
        on_platform & d.status.in_(RETRYABLE_FAILED)
    ).execute()


RETRYABLE_FAILED = sorted(FAILED - {"delete-failed"})

RELEASE_FENCE = "alien:releases"  # the releases' advisory lock (models.db.advisory_lock)


def release_fence(shared: bool = False) -> None:
    """Order release creation against transactions that act on "the newest release".

    Creating a release takes it exclusively; a transaction that reads the newest release for a
    platform and acts on it (a deployment created aimed at it, a reconcile that looks for a
    newer one) takes it shared, first thing, before any row lock. On PostgreSQL's READ
    COMMITTED a release still being inserted is invisible to such a reader, and §6 propagation
    cannot see the reader's uncommitted row either, so without the fence an update is lost.
    SQLite's IMMEDIATE transactions are already serial, so there it does nothing.
    """
    advisory_lock(RELEASE_FENCE, shared=shared)
