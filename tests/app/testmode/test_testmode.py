"""Test mode in one process (docs/behaviour.md §13): off by default, then reset, the clock,
forced statuses and the recording. The same controls against real servers: tests/app/testmode/test_live.py."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator
from starlette.testclient import TestClient

from app.contract.overlay import overlay
from app.contract.spec import component_schema, operations, raw_spec
from app.factory import create_app
from app.settings import Settings
from app.testmode.prefer import PreferControls
from app.testmode.recording import Recorder
from app.testmode.routes import TestRoutes
from models import clock
from tests.helpers import ContractClient, bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
DG_TOKEN = "ax_dg_" + "0" * 39 + "2"
ALIEN_ERROR = Draft4Validator(component_schema("AlienError"))


@pytest.fixture
def test_settings(settings: Settings, tmp_path: Path) -> Settings:
    return dataclasses.replace(
        settings, test_mode=True, fixtures=EXAMPLE, test_record=tmp_path / "record.ndjson"
    )


class TestModeClient(ContractClient):
    """Checks every API response against the spec; `/_test/*` is outside it."""

    __test__ = False

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        if str(url).startswith("/_test/"):
            return TestClient.request(self, method, url, *args, **kwargs)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def tclient(test_settings: Settings) -> Any:
    with TestModeClient(create_app(test_settings)) as client:
        yield client


def installed(app: Any) -> set[Any]:
    return {getattr(m, "func", m) for m in app.middleware.middlewares}


# -- off by default --------------------------------------------------------------------------


def test_without_test_mode_nothing_is_installed(app):
    assert not {TestRoutes, PreferControls, Recorder} & installed(app)
    assert clock._shared is None  # now() never reads the database


def test_with_test_mode_the_controls_are_installed(test_settings):
    app = create_app(test_settings)
    assert {TestRoutes, PreferControls, Recorder} <= installed(app)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/_test/reset", "/_test/clock", "/_test/anything"])
def test_without_test_mode_the_test_routes_are_404(client, admin, method, path):
    response = client.request(method, path, headers=admin, json={"advanceSeconds": 5})
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


@pytest.mark.parametrize("prefer", ["code=404", "code=500", "code=999", "fault=reset", "delay=x"])
def test_without_test_mode_prefer_is_ignored(client, admin, prefer):
    response = client.get("/v1/whoami", headers={**admin, "Prefer": prefer})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "variable", ["ALIEN_FIXTURES", "ALIEN_TEST_RECORD", "ALIEN_TEST_FAULT_RATE"]
)
def test_test_settings_without_test_mode_refuse_to_start(variable):
    value = "0.5" if variable == "ALIEN_TEST_FAULT_RATE" else "x.yaml"
    with pytest.raises(ValueError, match="need ALIEN_TEST_MODE=1"):
        Settings.from_env({variable: value})
    assert Settings.from_env({variable: value, "ALIEN_TEST_MODE": "1"}).test_mode


def test_a_fault_rate_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match="from 0 to 1"):
        Settings.from_env({"ALIEN_TEST_MODE": "1", "ALIEN_TEST_FAULT_RATE": "1.5"})


def test_test_mode_says_so_at_start_up(test_settings, caplog):
    create_app(test_settings)
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "TEST MODE" in warnings[0].getMessage()


# -- reset -------------------------------------------------------------------------------------


def test_reset_puts_back_the_fixtures_and_nothing_else(tclient, admin):
    group = bearer(DG_TOKEN)
    tclient.post("/v1/deployment-groups", json={"name": "mine"}, headers=admin)
    tclient.post("/v1/deployments", json={"name": "new", "platform": "aws"}, headers=group)
    tclient.delete("/v1/deployments/dep_fixture_pending?force=true", headers=admin)
    tclient.post("/v1/releases", json={"stack": {"aws": {"id": "s", "resources": {}}}},
                 headers=admin)  # fmt: skip
    minted = tclient.post("/v1/deployment-groups/dg_fixture_empty/tokens", headers=admin)
    response = tclient.post("/_test/reset", headers=admin)
    assert response.status_code == 200 and response.json()["fixtures"] == 10
    names = {d["name"] for d in tclient.get("/v1/deployments", headers=admin).json()["items"]}
    assert names == {"web", "worker", "leased", "broken"}
    groups = tclient.get("/v1/deployment-groups", headers=admin).json()["items"]
    assert {(g["name"], g["deploymentCount"]) for g in groups} == {("main", 4), ("empty", 0)}
    assert tclient.get("/v1/releases/latest", headers=admin).json()["id"] == "rel_fixture_v1"
    revoked = bearer(minted.json()["token"])
    assert tclient.get("/v1/whoami", headers=revoked).status_code == 401
    assert tclient.get("/v1/whoami", headers=group).status_code == 200
    assert tclient.get("/v1/whoami", headers=admin).status_code == 200


def test_reset_keeps_every_admin_token(tmp_path, database_url):
    """A first-start (minted) admin token is not in the settings: it survives too."""
    settings = Settings(state_dir=tmp_path / "s", database_url=database_url, test_mode=True)
    app = create_app(settings)
    minted = bearer((tmp_path / "s" / "admin-token").read_text().strip())
    with TestModeClient(app) as client:
        assert client.post("/_test/reset", headers=minted).status_code == 200
        assert client.post("/_test/reset", headers=minted).status_code == 200


@pytest.mark.parametrize(("headers", "status"), [({}, 401), (bearer(DG_TOKEN), 403)])
def test_reset_is_for_admins_only(tclient, headers, status):
    response = tclient.post("/_test/reset", headers=headers)
    assert response.status_code == status
    assert response.json()["httpStatusCode"] == status


def test_reset_puts_the_shared_clock_back(tclient, admin):
    tclient.post("/_test/clock", json={"advanceSeconds": 3600}, headers=admin)
    tclient.post("/_test/reset", headers=admin)
    assert tclient.get("/_test/clock", headers=admin).json()["offsetSeconds"] == 0


# -- the clock ---------------------------------------------------------------------------------


def test_the_clock_moves_every_timestamp(tclient, admin):
    moved = tclient.post("/_test/clock", json={"advanceSeconds": 86400}, headers=admin)
    assert moved.status_code == 200 and moved.json()["offsetSeconds"] == 86400
    created = tclient.post("/v1/deployment-groups", json={"name": "later"}, headers=admin).json()
    assert created["createdAt"][:10] == moved.json()["now"][:10]
    assert created["createdAt"] > datetime.now(UTC).isoformat()


@pytest.mark.parametrize(
    "body",
    [{}, {"advanceSeconds": 0}, {"advanceSeconds": -5}, {"advanceSeconds": "5"},
     {"advanceSeconds": True}, {"advanceSeconds": 1e12}, {"advanceSeconds": 5, "x": 1}, [5]],
)  # fmt: skip
def test_a_bad_clock_request_is_400(tclient, admin, body):
    response = tclient.post("/_test/clock", json=body, headers=admin)
    assert response.status_code == 400 and response.json()["code"] == "BAD_REQUEST"


def test_a_non_json_clock_body_is_400(tclient, admin):
    response = tclient.post("/_test/clock", content=b"{", headers=admin)
    assert response.status_code == 400


# -- forced statuses ---------------------------------------------------------------------------

SPEC = overlay(raw_spec())
CASES = [
    (method.upper(), path.replace("{id}", "dep_fixture_running"), op["operationId"], int(status))
    for path, method, op in operations(SPEC)
    for status in [*op["responses"], "500", "503"]
    if status.isdigit() and int(status) >= 300
]


def test_every_declared_error_status_can_be_forced(test_settings, admin):
    """The whole table at once: every operation, every status the overlaid spec declares for
    it, plus 500 and 503 (CASES: about a hundred)."""
    wrong = []
    with TestClient(create_app(test_settings)) as client:
        for method, path, operation_id, status in CASES:
            response = client.request(method, path, headers={**admin, "Prefer": f"code={status}"})
            body = response.json()
            if not (
                response.status_code == status
                and ALIEN_ERROR.is_valid(body)
                and body["httpStatusCode"] == status
                and "forced by Prefer" in body["message"]
            ):
                wrong.append((operation_id, status, response.status_code, body))
    assert len(CASES) > 80 and wrong == []


def test_a_forced_error_has_no_side_effect(tclient, admin):
    response = tclient.post("/v1/deployment-groups", json={"name": "ghost"},
                            headers={**admin, "Prefer": "code=403"})  # fmt: skip
    assert response.status_code == 403
    names = {g["name"] for g in tclient.get("/v1/deployment-groups", headers=admin).json()["items"]}
    assert "ghost" not in names


def test_a_forced_2xx_runs_the_real_handler(tclient, admin):
    response = tclient.post("/v1/deployment-groups", json={"name": "real"},
                            headers={**admin, "Prefer": "code=200"})  # fmt: skip
    assert response.status_code == 200 and response.json()["name"] == "real"


def test_a_forced_404_names_the_kind_of_object(tclient, admin):
    for path, code in [("/v1/deployments/x", "DEPLOYMENT_NOT_FOUND"),
                       ("/v1/deployment-groups/x", "DEPLOYMENT_GROUP_NOT_FOUND"),
                       ("/v1/releases/latest", "RELEASE_NOT_FOUND")]:  # fmt: skip
        response = tclient.get(path, headers={**admin, "Prefer": "code=404"})
        assert response.json()["code"] == code


@pytest.mark.parametrize(
    ("prefer", "fragment"),
    [("code=418", "possible: 200, 400, 401, 403, 404, 500, 503"), ("code=abc", "100 to 599"),
     ("code=201", "possible:"), ("delay=30001", "0 to 30000"), ("delay=-1", "0 to 30000"),
     ("fault=explode", "reset, empty, truncated"), ("code=404, fault=empty", "cannot be combined")],
)  # fmt: skip
def test_an_impossible_preference_is_400_naming_the_possible(test_settings, admin, prefer,
                                                             fragment):  # fmt: skip
    with TestClient(create_app(test_settings)) as client:  # 400 here is test mode's own answer
        response = client.get("/v1/deployments/dep_fixture_running",
                              headers={**admin, "Prefer": prefer})  # fmt: skip
    assert ALIEN_ERROR.is_valid(response.json())
    assert response.status_code == 400 and response.json()["code"] == "BAD_REQUEST"
    assert fragment in response.json()["message"]


def test_prefer_on_an_unauthenticated_request_is_not_honoured(tclient):
    response = tclient.get("/v1/deployments/dep_fixture_running", headers={"Prefer": "code=404"})
    assert response.status_code == 401
    response = tclient.get("/v1/deployments/dep_fixture_running",
                           headers={"Prefer": "code=200", "Authorization": "Bearer nope"})  # fmt: skip
    assert response.status_code == 401


def test_prefer_on_the_public_health_check_is_honoured(test_settings):
    with TestClient(create_app(test_settings)) as client:
        assert client.get("/health", headers={"Prefer": "code=503"}).status_code == 503
        assert client.get("/health", headers={"Prefer": "code=404"}).status_code == 400


def test_other_preferences_are_ignored_and_parameters_tolerated(tclient, admin):
    headers = {**admin, "Prefer": 'return=minimal, example="x", code=404; strict'}
    assert tclient.get("/v1/releases/latest", headers=headers).status_code == 404


# -- the recording -----------------------------------------------------------------------------


def test_each_exchange_is_one_masked_line(tclient, admin, test_settings):
    """The journal's objects (tests/app/testmode/test_journal.py), one per line."""
    tclient.post("/v1/deployment-groups/dg_fixture_main/tokens", headers=admin)
    tclient.get("/v1/deployments?limit=2", headers=bearer(DG_TOKEN))
    tclient.get("/v1/deployments/nope", headers={**admin, "Prefer": "code=404"})
    tclient.get("/_test/clock", headers=admin)  # test mode's own routes are not recorded
    lines = test_settings.test_record.read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["method"], r["response"]["status"], r["operationId"], r["answered"])
            for r in records] == [
        ("POST", 200, "create_deployment_group_token", "real"),
        ("GET", 200, "list_deployments", "real"),
        ("GET", 404, "get_deployment", "prefer"),
    ]  # fmt: skip
    assert [r["sequence"] for r in records] == [1, 2, 3]
    minted = records[0]["response"]["body"]["token"]
    assert len(minted) == 13 and minted.startswith("ax_dg_") and minted.endswith("…")
    assert records[1]["query"] == "limit=2" and len(records[1]["response"]["body"]["items"]) == 2
    assert records[1]["request"]["headers"]["authorization"] == "Bearer ax_dg_000000…"
    assert all(r["durationMs"] >= 0 for r in records)
    text = test_settings.test_record.read_text()
    assert DG_TOKEN not in text and admin["Authorization"][7:] not in text


def test_request_bodies_are_recorded_masked(tclient, admin, test_settings):
    tclient.post("/v1/deployment-groups", json={"name": "ax_admin_" + "f" * 40}, headers=admin)
    record = json.loads(test_settings.test_record.read_text().splitlines()[-1])
    assert record["request"]["body"] == {"name": "ax_admin_fff…"}
    assert record["response"]["body"]["name"] == "ax_admin_fff…"
