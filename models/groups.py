"""Deployment groups: a named pool of deployments with a size limit."""

from __future__ import annotations

import uuid

import peewee

from models import clock
from models.base import BaseModel
from models.db import db
from models.errors import DeploymentGroupNotFound, MaxDeploymentsReached
from models.fields import ExactText, TimestampField
from models.paging import keyset_page

DEFAULT_MAX_DEPLOYMENTS = 100


class DeploymentGroup(BaseModel):
    not_found = DeploymentGroupNotFound

    id = peewee.CharField(primary_key=True)
    name = ExactText()
    max_deployments = peewee.BigIntegerField(default=DEFAULT_MAX_DEPLOYMENTS)
    # Kept equal to the number of the group's deployments by the same transactions that insert
    # and remove them; `reserve_slot` is the one conditional UPDATE that enforces the limit.
    deployment_count = peewee.BigIntegerField(default=0)
    created_at = TimestampField()

    class Meta:
        indexes = ((("created_at", "id"), False),)

    @classmethod
    def create_new(cls, name: str, max_deployments: int | None = None) -> DeploymentGroup:
        return cls.insert_row(
            id=f"dg_{uuid.uuid4()}",
            name=name,
            max_deployments=DEFAULT_MAX_DEPLOYMENTS if max_deployments is None else max_deployments,
            created_at=clock.now(),
        )

    @classmethod
    def page(
        cls, only: str | None, limit: int | None, cursor: str | None
    ) -> tuple[list[DeploymentGroup], str | None]:
        query = cls.select() if only is None else cls.select().where(cls.id == only)
        return keyset_page(query, cls, limit, cursor)

    @classmethod
    def newest(cls) -> DeploymentGroup | None:
        newest: DeploymentGroup | None = (
            cls.select().order_by(cls.created_at.desc(), cls.id.desc()).first()
        )
        return newest

    @classmethod
    def reserve_slot(cls, group_id: str) -> None:
        """Count one more deployment into the group, or raise when it is full.

        A single conditional UPDATE: it takes the row lock on PostgreSQL and runs inside the
        caller's IMMEDIATE transaction on SQLite, so concurrent creates never overfill a group.
        Call it inside the transaction that inserts the deployment.
        """
        assert db.in_transaction(), "reserve_slot must run inside the inserting transaction"
        updated = (
            cls.update(deployment_count=cls.deployment_count + 1)
            .where((cls.id == group_id) & (cls.deployment_count < cls.max_deployments))
            .execute()
        )
        if updated:
            return
        group = cls.existing(group_id)
        raise MaxDeploymentsReached(group_id, group.max_deployments)

    @classmethod
    def release_slot(cls, group_id: str) -> None:
        assert db.in_transaction(), "release_slot must run inside the deleting transaction"
        cls.update(deployment_count=cls.deployment_count - 1).where(cls.id == group_id).execute()
