"""The journal of exchanges in one process (docs/behaviour.md §13.8); the time controls and
their bounds (§13.5)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
DG_TOKEN = "ax_dg_" + "0" * 39 + "2"
FIELDS = ["sequence", "time", "requestId", "method", "path", "query", "operationId", "request",
          "response", "answered", "durationMs"]  # fmt: skip


@pytest.fixture
def kit(settings: Settings) -> Any:
    test_settings = dataclasses.replace(settings, test_mode=True, fixtures=EXAMPLE)
    with TestClient(create_app(test_settings)) as client:
        yield client


def journal(kit: Any, admin: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    response = kit.get(f"/_test/requests{query}", headers=admin)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_each_exchange_is_in_the_journal_in_order_with_every_field(kit, admin):
    kit.get("/v1/deployments?limit=1", headers={"Authorization": f"Bearer {DG_TOKEN}",
                                                "X-Request-Id": "mine-1"})  # fmt: skip
    kit.post("/v1/deployment-groups", json={"name": "n"}, headers=admin)
    first, second = journal(kit, admin)
    assert list(first) == FIELDS
    assert first["sequence"] < second["sequence"]
    assert (first["method"], first["path"], first["query"]) == ("GET", "/v1/deployments", "limit=1")
    assert first["operationId"] == "list_deployments" and first["requestId"] == "mine-1"
    assert first["request"]["headers"]["authorization"] == "Bearer ax_dg_000000…"
    assert first["response"]["status"] == 200 and len(first["response"]["body"]["items"]) == 1
    assert first["answered"] == "real" and first["durationMs"] >= 0
    assert datetime.fromisoformat(first["time"]) <= datetime.fromisoformat(second["time"])
    assert second["request"]["body"] == {"name": "n"}


def test_how_each_exchange_was_answered(kit, admin):
    kit.post("/_test/stubs", json={"operationId": "whoami", "response": {"status": 500}},
             headers=admin)  # fmt: skip
    kit.get("/v1/whoami", headers=admin)
    kit.post("/v1/deployment-groups", json={"name": "forced"},
             headers={**admin, "Prefer": "code=403"})  # fmt: skip
    kit.get("/v1/whoami", headers=admin)
    answered = [(e["operationId"], e["response"]["status"], e["answered"])
                for e in journal(kit, admin)]  # fmt: skip
    assert answered == [("whoami", 500, "stub"), ("create_deployment_group", 403, "prefer"),
                        ("whoami", 200, "real")]  # fmt: skip
    forced = journal(kit, admin, "?status=403")
    assert [e["request"]["body"] for e in forced] == [{"name": "forced"}]  # its body too


def test_the_filters(kit, admin):
    for _ in range(3):
        kit.get("/v1/whoami", headers=admin)
    kit.get("/v1/deployments/nope", headers=admin)
    everything = journal(kit, admin)
    assert len(everything) == 4
    assert len(journal(kit, admin, "?operationId=whoami")) == 3
    assert len(journal(kit, admin, "?method=get&status=404")) == 1
    assert len(journal(kit, admin, "?path=/v1/deployments/nope")) == 1
    after = journal(kit, admin, f"?since={everything[1]['sequence']}&limit=1")
    assert [e["sequence"] for e in after] == [everything[2]["sequence"]]


@pytest.mark.parametrize("query", ["?limit=0", "?limit=1001", "?since=-1", "?status=abc",
                                   "?status=²", "?nope=1"])  # fmt: skip
def test_a_bad_filter_is_400(kit, admin, query):
    assert kit.get(f"/_test/requests{query}", headers=admin).status_code == 400


def test_delete_and_reset_clear_the_journal(kit, admin):
    kit.get("/v1/whoami", headers=admin)
    assert kit.delete("/_test/requests", headers=admin).json() == {"deleted": 1}
    assert journal(kit, admin) == []
    kit.get("/v1/whoami", headers=admin)
    kit.post("/_test/reset", headers=admin)
    assert journal(kit, admin) == []


def test_the_journal_is_for_admins_only(kit):
    assert kit.get("/_test/requests", headers=bearer(DG_TOKEN)).status_code == 403
    assert kit.delete("/_test/requests").status_code == 401


# -- time --------------------------------------------------------------------------------------


def clock(kit: Any, admin: dict[str, str], body: Any = None) -> Any:
    if body is None:
        return kit.get("/_test/clock", headers=admin)
    return kit.post("/_test/clock", json=body, headers=admin)


def test_set_freeze_and_thaw(kit, admin):
    frozen = clock(kit, admin, {"set": "2031-05-06T07:08:09Z", "freeze": True}).json()
    assert frozen["now"] == "2031-05-06T07:08:09.000000+00:00" and frozen["frozen"] is True
    assert clock(kit, admin).json()["now"] == frozen["now"]  # it stands still
    created = kit.post("/v1/deployment-groups", json={"name": "then"}, headers=admin).json()
    assert created["createdAt"].startswith("2031-05-06T07:08:09")
    moved = clock(kit, admin, {"advanceSeconds": 60}).json()
    assert moved["now"] == "2031-05-06T07:09:09.000000+00:00" and moved["frozen"] is True
    thawed = clock(kit, admin, {"freeze": False}).json()
    assert thawed["frozen"] is False and thawed["now"] >= moved["now"]
    kit.post("/_test/reset", headers=admin)
    back = clock(kit, admin).json()
    assert back["frozen"] is False and abs(back["offsetSeconds"]) < 60


@pytest.mark.parametrize(
    "body",
    [{"set": "2031-05-06T07:08:09"}, {"set": "yesterday"}, {"set": 5}, {"freeze": "yes"},
     {"set": "2200-01-01T00:00:00Z"}, {"set": "1900-01-01T00:00:00Z"}],
)  # fmt: skip
def test_a_bad_time_is_400(kit, admin, body):
    response = clock(kit, admin, body)
    assert response.status_code == 400 and response.json()["code"] == "BAD_REQUEST"


def test_the_offset_is_bounded_and_the_server_stays_usable(kit, admin):
    """Advances add up to at most 100 years: the one past it is a 400, and every request,
    reset included, still works (docs §13.5)."""
    statuses = [clock(kit, admin, {"advanceSeconds": 315360000}).status_code for _ in range(11)]
    assert statuses == [200] * 10 + [400]
    assert kit.get("/v1/whoami", headers=admin).status_code == 200
    assert kit.post("/v1/deployment-groups", json={"name": "x"}, headers=admin).status_code == 200
    assert kit.post("/_test/reset", headers=admin).status_code == 200
    now = datetime.fromisoformat(clock(kit, admin).json()["now"])
    assert abs(now - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_deeply_nested_clock_body_is_400(kit, admin):
    body = b"[" * 50_000 + b"]" * 50_000
    response = kit.post("/_test/clock", content=body, headers=admin)
    assert response.status_code == 400


def test_a_non_ascii_digit_in_prefer_is_400(kit, admin):
    response = kit.get("/v1/whoami", headers={**admin, "Prefer": b"code=\xb2"})
    assert response.status_code == 400 and response.json()["code"] == "BAD_REQUEST"
