"""Server-side stubs in one process (docs/behaviour.md §13.7). Across workers and instances:
tests/app/testmode/test_live_kit.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from starlette.testclient import TestClient

from app.contract.spec import component_schema
from app.factory import create_app
from app.settings import Settings
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
DG = bearer("ax_dg_" + "0" * 39 + "2")
ALIEN_ERROR = Draft4Validator(component_schema("AlienError"))
RECONCILE = {"deploymentId": "dep_fixture_leased", "session": "me",
             "state": {"status": "running", "platform": "aws"}}  # fmt: skip


@pytest.fixture
def kit(settings: Settings) -> Any:
    test_settings = dataclasses.replace(settings, test_mode=True, fixtures=EXAMPLE)
    with TestClient(create_app(test_settings)) as client:
        yield client


def stub(kit: Any, admin: dict[str, str], **body: Any) -> str:
    response = kit.post("/_test/stubs", json=body, headers=admin)
    assert response.status_code == 201, response.text
    ident: str = response.json()["id"]
    return ident


def test_a_stub_answers_once_then_the_real_operation_does(kit, admin):
    stub(kit, admin, operationId="whoami", response={"status": 503})
    first = kit.get("/v1/whoami", headers=admin)
    assert first.status_code == 503 and first.headers["retry-after"] == "1"
    assert ALIEN_ERROR.is_valid(first.json()) and first.json()["code"] == "SERVICE_UNAVAILABLE"
    assert "connection" not in first.headers
    assert kit.get("/v1/whoami", headers=admin).status_code == 200
    listed = kit.get("/_test/stubs", headers=admin).json()["items"]
    assert [s["callsLeft"] for s in listed] == [0]


def test_a_stubbed_409_on_reconcile_is_the_real_error(kit, admin):
    stub(kit, admin, method="POST", path="/v1/sync/reconcile", response={"status": 409})
    response = kit.post("/v1/sync/reconcile", json=RECONCILE, headers=admin)
    body = response.json()
    assert response.status_code == 409 and ALIEN_ERROR.is_valid(body)
    assert body["code"] == "DEPLOYMENT_LOCKED" and body["retryable"]
    assert body["context"]["deployment_id"] == "dep_fixture_leased"
    assert body["context"]["locked_by"]


def test_a_stub_with_a_body_answers_it_and_its_headers(kit, admin):
    me = {"kind": "admin", "id": "stubbed", "scope": {"type": "admin"}}
    stub(kit, admin, operationId="whoami", times=None, response={"status": 200, "body": me,
         "headers": {"X-Stubbed": "yes"}})  # fmt: skip
    for _ in range(3):
        response = kit.get("/v1/whoami", headers=admin)
        assert response.json() == me and response.headers["x-stubbed"] == "yes"


def test_a_path_template_or_a_concrete_path_narrows_a_stub(kit, admin):
    stub(kit, admin, method="GET", path="/v1/deployments/dep_fixture_running", times=None,
         response={"status": 404})  # fmt: skip
    assert kit.get("/v1/deployments/dep_fixture_pending", headers=admin).status_code == 200
    gone = kit.get("/v1/deployments/dep_fixture_running", headers=admin)
    assert gone.status_code == 404 and gone.json()["code"] == "DEPLOYMENT_NOT_FOUND"
    assert gone.json()["context"] == {"deployment_id": "dep_fixture_running"}


def test_a_2xx_stub_without_a_body_delays_the_real_answer(kit, admin):
    stub(kit, admin, operationId="whoami", delayMs=1)
    assert kit.get("/v1/whoami", headers=admin).status_code == 200


def test_authentication_comes_before_any_stub(kit, admin):
    stub(kit, admin, operationId="whoami", times=None, response={"status": 503})
    assert kit.get("/v1/whoami").status_code == 401
    assert kit.get("/v1/whoami", headers=bearer("ax_admin_" + "9" * 40)).status_code == 401


def test_prefer_wins_over_a_stub_and_leaves_it(kit, admin):
    stub(kit, admin, operationId="whoami", response={"status": 503})
    assert kit.get("/v1/whoami", headers={**admin, "Prefer": "code=404"}).status_code == 404
    assert kit.get("/v1/whoami", headers=admin).status_code == 503


def test_delete_removes_one_stub_and_reset_all(kit, admin):
    one = stub(kit, admin, operationId="whoami", times=None, response={"status": 500})
    stub(kit, admin, operationId="list_deployments", times=None, response={"status": 500})
    assert kit.delete(f"/_test/stubs/{one}", headers=admin).status_code == 200
    assert kit.delete(f"/_test/stubs/{one}", headers=admin).status_code == 404
    assert kit.get("/v1/whoami", headers=admin).status_code == 200
    assert kit.get("/v1/deployments", headers=admin).status_code == 500
    assert kit.post("/_test/reset", headers=admin).status_code == 200
    assert kit.get("/_test/stubs", headers=admin).json() == {"items": []}
    assert kit.get("/v1/deployments", headers=admin).status_code == 200


@pytest.mark.parametrize(
    ("body", "fragment"),
    [({"operationId": "nope", "response": {"status": 500}}, "Unknown operationId"),
     ({"method": "GET", "path": "/v2/x", "response": {"status": 500}}, "No operation answers"),
     ({"operationId": "whoami"}, "A stub is"),
     ({"operationId": "whoami", "response": {"status": 409}}, "may answer"),
     ({"operationId": "whoami", "response": {"status": 200, "body": {"x": 1}}}, "declares"),
     ({"operationId": "whoami", "fault": "explode"}, "reset, empty, truncated"),
     ({"operationId": "whoami", "fault": "empty", "response": {"status": 500}}, "not both"),
     ({"operationId": "whoami", "times": 0, "fault": "empty"}, '"times"'),
     ({"operationId": "whoami", "delayMs": 30001}, '"delayMs"'),
     ({"operationId": "whoami", "fault": "empty", "x": 1}, "A stub is")],
)  # fmt: skip
def test_a_bad_stub_is_400_saying_why(kit, admin, body, fragment):
    response = kit.post("/_test/stubs", json=body, headers=admin)
    assert response.status_code == 400 and fragment in response.json()["message"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_stubs_are_for_admins_only(kit, method):
    assert kit.request(method, "/_test/stubs", headers=DG).status_code == 403


def test_the_served_spec_declares_what_test_mode_can_force(kit):
    spec = kit.get("/openapi.overlay.json").json()
    for item in spec["paths"].values():
        for op in item.values():
            assert {"500", "503"} <= set(op["responses"]), op["operationId"]
