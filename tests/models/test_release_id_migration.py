"""Migration 4: a deployment's release ids become TEXT (issue 22, item 5).

A worker reports `currentRelease.releaseId` up to the text limit (640 characters); PostgreSQL's
VARCHAR(255), peewee's CharField, refused a longer one with a 500 while SQLite stored it.
"""

from __future__ import annotations

import peewee

from models import clock
from models.db import bind_database, db
from models.deployments import Deployment
from models.engines import make_database
from models.groups import DeploymentGroup
from models.schema import MIGRATIONS, TABLES, SchemaMigration, migrate


def test_migration_4_lets_an_existing_database_store_long_release_ids(database_url):
    bind_database(make_database(database_url, 2))
    with db.connection_context():
        db.create_tables([SchemaMigration, *TABLES])
        if isinstance(db.obj, peewee.PostgresqlDatabase):  # the columns as versions 1-3 made them
            for column in ("current_release_id", "desired_release_id"):
                db.execute_sql(f"ALTER TABLE deployment ALTER COLUMN {column} TYPE VARCHAR(255)")
        for version, name, _ in MIGRATIONS[:3]:
            SchemaMigration.create(version=version, name=name, applied_at=clock.now())

        assert migrate() == [version for version, _, _ in MIGRATIONS[3:]]
        assert migrate() == []

        group = DeploymentGroup.create_new("g")
        release_id = "r" * 640
        Deployment.create(
            id="dep_1", name="d", deployment_group=group.id, platform="aws",
            stack_settings={}, created_at=clock.now(), current_release_id=release_id,
            desired_release_id=release_id,
        )  # fmt: skip
        row = Deployment.get_by_id("dep_1")
        assert (row.current_release_id, row.desired_release_id) == (release_id, release_id)
