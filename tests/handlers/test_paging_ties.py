"""List pages when rows share one `createdAt` (models/paging.py): the cursor orders on (createdAt,
id), so a page boundary inside a tie neither skips nor repeats a row. The clock is held still
while rows are created, so the ties are real rows made through the API, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models import clock

STILL = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def still(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`still(moment)` holds the clock at `moment` until the next call (None: real time)."""

    def hold(moment: datetime | None) -> None:
        if moment is None:
            monkeypatch.undo()
        else:
            monkeypatch.setattr(clock, "now", lambda: moment)

    yield hold
    monkeypatch.undo()


def pages(client: Any, path: str, headers: dict[str, str], limit: int) -> list[list[Any]]:
    """Every page of `path`, following nextCursor to the end."""
    found: list[list[Any]] = []
    cursor = None
    while True:
        query = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        found.append(body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            return found
        assert len(found) < 100, "the pages never end"


def newest_first(items: list[Any]) -> list[Any]:
    return sorted(items, key=lambda i: (i["createdAt"], i["id"]), reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 4])
def test_deployment_pages_through_ties_skip_and_repeat_nothing(client, api, still, limit):
    group_id = api.group("ties")
    group = api.group_token(group_id)
    other = api.group_token(api.group("others"))
    api.deployment(group, "before")  # real time: older than the tie
    still(STILL + timedelta(days=3650))  # newer than everything else, all at one instant
    for i in range(5):
        api.deployment(group, f"tied-{i}")
        api.deployment(other, f"tied-other-{i}")
    still(None)
    for caller in (api.admin, group):  # every deployment; the group's own (its filtered index)
        everything = api.get("/v1/deployments", caller)["items"]  # no limit: one list
        assert len([d for d in everything if d["createdAt"] == everything[0]["createdAt"]]) >= 5
        paged = pages(client, "/v1/deployments", caller, limit)
        assert all(len(page) == limit for page in paged[:-1])
        flat = [d["id"] for page in paged for d in page]
        assert flat == [d["id"] for d in newest_first(everything)]
        assert len(set(flat)) == len(flat) == (11 if caller is api.admin else 6)


@pytest.mark.parametrize("limit", [1, 2, 3])
def test_group_pages_through_ties_skip_and_repeat_nothing(client, api, still, limit):
    api.group("before")
    still(STILL + timedelta(days=3650))
    for i in range(5):
        api.group(f"tied-{i}")
    still(None)
    everything = api.get("/v1/deployment-groups")["items"]
    paged = pages(client, "/v1/deployment-groups", api.admin, limit)
    flat = [g["id"] for page in paged for g in page]
    assert flat == [g["id"] for g in newest_first(everything)]
    assert len(set(flat)) == len(flat) == 6


def test_a_cursor_inside_a_tie_resumes_after_its_row(client, api, still):
    """Rows created while a client pages, inside the tie it is paging through, never shift it."""
    group = api.group_token(api.group("g"))
    still(STILL)
    for i in range(4):
        api.deployment(group, f"tied-{i}")
    first = client.get("/v1/deployments", params={"limit": 2}, headers=group).json()
    for i in range(3):  # same instant, after the cursor was handed out
        api.deployment(group, f"late-{i}")
    still(None)
    rest = [d["id"] for page in pages_from(client, group, first["nextCursor"]) for d in page]
    seen = [d["id"] for d in first["items"]]
    ordered = [d["id"] for d in newest_first(api.get("/v1/deployments", group)["items"])]
    after = ordered[ordered.index(seen[-1]) + 1 :]
    assert rest == after and not set(rest) & set(seen)


def pages_from(client: Any, headers: dict[str, str], cursor: str) -> list[list[Any]]:
    found = []
    while cursor:
        body = client.get("/v1/deployments", params={"limit": 2, "cursor": cursor},
                          headers=headers).json()  # fmt: skip
        found.append(body["items"])
        cursor = body["nextCursor"]
    return found
