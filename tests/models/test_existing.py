"""`existing`: one way to fetch a row by id or fail with the model's own NotFound error."""

from __future__ import annotations

from typing import Any

import pytest

from models.db import BaseModel, db
from models.deployments import Deployment
from models.errors import DeploymentGroupNotFound, DeploymentNotFound, ReleaseNotFound
from models.groups import DeploymentGroup
from models.releases import Release


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
