"""The deployment model's status list is the spec's DeploymentStatus enum, in its order."""

from __future__ import annotations

from app.contract.spec import raw_spec
from models.deployments import ACQUIRABLE, DELETING, FAILED, STATUSES
from models.lifecycle import RETRYABLE_FAILED


def test_statuses_are_the_spec_enum() -> None:
    assert STATUSES == tuple(raw_spec()["components"]["schemas"]["DeploymentStatus"]["enum"])


def test_every_named_status_set_draws_from_the_list() -> None:
    for named in (FAILED, DELETING, RETRYABLE_FAILED, ACQUIRABLE):
        assert set(named) <= set(STATUSES), named
    assert FAILED == {
        "initial-setup-failed", "provisioning-failed", "refresh-failed", "update-failed",
        "delete-failed",
    }  # fmt: skip
