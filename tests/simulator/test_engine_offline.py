"""Engine decisions that need no server: a fake Api stands in for the HTTP calls."""

from __future__ import annotations

from typing import Any

import pytest

from harness import pg
from simulator.api import ApiError
from simulator.engine import Engine
from tests.simulator.conftest import stack

pytestmark = pg.once()  # docs: harness/pg.py


class FakeApi:
    """Ten pending deployments; acquire refuses more than `limit_ids` ids with a 400, as a
    server configured with a low ALIEN_MAX_LIST_ITEMS does."""

    def __init__(self, limit_ids: int) -> None:
        self.limit_ids = limit_ids
        self.rows = [
            {"id": f"dep_{i}", "name": f"d{i}", "platform": "aws", "status": "pending",
             "desiredReleaseId": "rel_1", "stackSettings": {}}
            for i in range(10)
        ]  # fmt: skip
        self.offered: list[int] = []
        self.released: list[str] = []
        self.reconciled: list[str] = []

    def deployments(self) -> list[dict[str, Any]]:
        return self.rows

    def acquire(self, session: str, ids: list[str], limit: int) -> list[dict[str, Any]]:
        self.offered.append(len(ids))
        if len(ids) > self.limit_ids:
            raise ApiError(400, "VALIDATION_ERROR", "too many items")
        return [{"id": i, "name": i, "platform": "aws", "status": "pending",
                 "desired_release_id": "rel_1", "stack_settings": {}} for i in ids[:limit]]  # fmt: skip

    def stack(self, release_id: str, platform: str) -> dict[str, Any]:
        return stack()

    def reconcile(self, deployment_id: str, session: str, state: dict[str, Any]) -> None:
        self.reconciled.append(deployment_id)

    def release(self, deployment_id: str, session: str) -> None:
        self.released.append(deployment_id)


def test_a_lower_list_limit_on_the_server_shrinks_the_offer_until_acquire_accepts_it() -> None:
    api = FakeApi(limit_ids=3)
    engine = Engine(api, tick=0.01, batch=2)  # type: ignore[arg-type]
    engine.max_ids = 10
    for _ in range(2):
        with pytest.raises(ApiError):
            engine.tick()
        assert not engine.held, "a refused acquire leased nothing: nothing to release"
    engine.tick()
    assert api.offered == [10, 5, 2]
    assert len(api.reconciled) == 2 and sorted(api.released) == sorted(api.reconciled)
