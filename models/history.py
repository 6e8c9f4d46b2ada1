"""A deployment's status history: its last `KEEP` status changes, when, and who caused each
(docs/behaviour.md §6.1).

Every change of a deployment's status is written here by the transaction that makes it, so the
history never shows a change that did not happen, nor misses one that did; the same transaction
drops the rows beyond the newest `KEEP` of that deployment. Who caused a change is a sync
session (reconcile) or an API call (its operationId and the kind of token that made it). The
rows go with their deployment (ON DELETE CASCADE). Fixtures' statuses have no history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee

from models import clock
from models.base import BaseModel
from models.deployments import Deployment
from models.fields import ExactText, TimestampField

KEEP = 50


@dataclass(frozen=True)
class Cause:
    """Who changed a status: a sync `session`, or an API `call` made with a `caller` token."""

    session: str | None = None
    call: str | None = None
    caller: str | None = None

    @classmethod
    def by_session(cls, session: str) -> Cause:
        return cls(session=session)

    @classmethod
    def by_call(cls, operation_id: str, caller_kind: str) -> Cause:
        return cls(call=operation_id, caller=caller_kind)


class StatusChange(BaseModel):
    id = peewee.BigAutoField()
    deployment = peewee.ForeignKeyField(Deployment, on_delete="CASCADE")
    deployment_id: str
    at = TimestampField()
    from_status = peewee.CharField(null=True)  # null: the deployment was created
    to_status = peewee.CharField()
    session = ExactText(null=True)
    call = peewee.CharField(null=True)
    caller = peewee.CharField(null=True)

    class Meta:
        indexes = ((("deployment", "id"), False),)

    @classmethod
    def recent(cls, deployment_id: str) -> list[StatusChange]:
        """The deployment's kept changes, newest first."""
        query = cls.select().where(cls.deployment == deployment_id)
        return list(query.order_by(cls.id.desc()).limit(KEEP))


def record(deployment_id: str, before: str | None, after: str, cause: Cause) -> None:
    """Write one change (inside the transaction that makes it); nothing when `after` is
    `before`."""
    if before == after:
        return
    StatusChange.insert(
        deployment=deployment_id,
        at=clock.now(),
        from_status=before,
        to_status=after,
        session=cause.session,
        call=cause.call,
        caller=cause.caller,
    ).execute()
    _trim_one(deployment_id)


def record_each(changed: Any, before: str, after: str, cause: Cause) -> None:
    """Write the change of every deployment `changed` selects (a query of Deployment ids, run
    before the UPDATE that makes the changes, with the rows already locked)."""
    d = Deployment
    rows = changed.select(
        d.id,
        peewee.Value(StatusChange.at.db_value(clock.now())),
        peewee.Value(before),
        peewee.Value(after),
        peewee.Value(cause.session),
        peewee.Value(cause.call),
        peewee.Value(cause.caller),
    )
    s = StatusChange
    fields = [s.deployment, s.at, s.from_status, s.to_status, s.session, s.call, s.caller]
    StatusChange.insert_from(rows, fields).execute()
    trim(StatusChange.deployment.in_(changed.select(d.id)))


def _trim_one(deployment_id: str) -> None:
    """`trim` for one deployment, in a statement cheaper to build and run: everything from its
    `KEEP + 1`th newest change back (an index range on (deployment, id))."""
    s = StatusChange
    mine = s.deployment == deployment_id
    first_dropped = s.select(s.id).where(mine).order_by(s.id.desc()).limit(1).offset(KEEP)
    s.delete().where(mine & (s.id <= first_dropped)).execute()


def trim(which: Any) -> None:
    """Drop all but the newest `KEEP` changes of the deployments `which` selects."""
    s = StatusChange
    rank = peewee.fn.ROW_NUMBER().over(partition_by=[s.deployment], order_by=[s.id.desc()])
    ranked = s.select(s.id, rank.alias("n")).where(which).alias("ranked")
    beyond = peewee.Select([ranked], [ranked.c.id]).where(ranked.c.n > KEEP)
    s.delete().where(s.id.in_(beyond)).execute()
