"""`existing`: one way to fetch a row by id or fail with the model's own NotFound error."""

from __future__ import annotations

from typing import Any

import pytest

from models.base import BaseModel
from models.db import db
from models.deployments import Deployment
from models.errors import DeploymentGroupNotFound, DeploymentNotFound, ReleaseNotFound
from models.groups import DeploymentGroup
from models.releases import Release
from tests.helpers import stack


@pytest.mark.parametrize(
    ("model", "error", "key"),
    [
        (Deployment, DeploymentNotFound, "deployment_id"),
        (DeploymentGroup, DeploymentGroupNotFound, "deployment_group_id"),
        (Release, ReleaseNotFound, "release_id"),
    ],
)
def test_a_missing_row_raises_the_models_not_found(
    app: Any, model: type[BaseModel], error: type[Exception], key: str
) -> None:
    with db.connection_context(), pytest.raises(error) as raised:
        model.existing("nope")
    assert raised.value.context == {key: "nope"}  # type: ignore[attr-defined]


def test_an_existing_row_is_returned(app: Any) -> None:
    with db.connection_context():
        group = DeploymentGroup.create_new("g")
        assert DeploymentGroup.existing(group.id) == group


@pytest.mark.parametrize("model", [Deployment, DeploymentGroup, Release])
def test_a_row_by_key_is_the_row_peewee_reads(app: Any, world: Any, api: Any, model: Any) -> None:
    """`by_key` reads the row itself (models/base.py): the same typed values as peewee's own
    query, JSON, timestamps, flags and nulls alike, and nothing marked changed."""
    api.release(aws=stack("a"))
    with db.connection_context():
        rows = list(model.select())
        assert rows
        for row in rows:
            mine = model.by_key(row.get_id())
            assert mine is not None and type(mine) is model
            assert mine.__data__ == row.__data__
            assert {k: type(v) for k, v in mine.__data__.items()} == {
                k: type(v) for k, v in row.__data__.items()
            }
            assert mine.dirty_fields == []
        assert model.by_key("nope") is None
