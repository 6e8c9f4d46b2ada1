"""Namespaces (docs/behaviour.md §13.10): `/_test/ns/{name}/…` is an isolated world per name,
on SQLite; on PostgreSQL a clear 400."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.factory import create_app
from app.settings import Settings
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
FIXTURE_ADMIN = bearer("ax_admin_" + "0" * 39 + "1")
DG = bearer("ax_dg_" + "0" * 39 + "2")
BACKEND = os.environ.get("ALIEN_TEST_DB", "sqlite")
sqlite_only = pytest.mark.skipif(BACKEND != "sqlite", reason="namespaces need SQLite")


@pytest.fixture
def kit(settings: Settings) -> Any:
    test_settings = dataclasses.replace(settings, test_mode=True, fixtures=EXAMPLE)
    with TestClient(create_app(test_settings)) as client:
        yield client


def names(kit: Any, prefix: str, admin: dict[str, str]) -> set[str]:
    listed = kit.get(f"{prefix}/v1/deployment-groups", headers=admin).json()["items"]
    return {g["name"] for g in listed}


@sqlite_only
def test_each_namespace_is_a_world_of_its_own(kit, admin):
    assert names(kit, "/_test/ns/a", admin) == {"main", "empty"}  # the fixtures, on first use
    kit.post("/_test/ns/a/v1/deployment-groups", json={"name": "only-a"}, headers=admin)
    kit.post("/_test/ns/a/_test/clock", json={"advanceSeconds": 600}, headers=admin)
    kit.post("/_test/ns/a/_test/stubs", json={"operationId": "whoami", "times": None,
             "response": {"status": 503}}, headers=admin)  # fmt: skip
    assert names(kit, "/_test/ns/a", admin) == {"main", "empty", "only-a"}
    assert names(kit, "/_test/ns/b", admin) == names(kit, "", admin) == {"main", "empty"}
    assert kit.get("/_test/ns/a/_test/clock", headers=admin).json()["offsetSeconds"] >= 600
    assert kit.get("/_test/ns/b/_test/clock", headers=admin).json()["offsetSeconds"] < 600
    assert kit.get("/_test/ns/a/v1/whoami", headers=admin).status_code == 503
    assert kit.get("/_test/ns/b/v1/whoami", headers=admin).status_code == 200
    journal = kit.get("/_test/ns/b/_test/requests", headers=admin).json()["items"]
    assert [e["path"] for e in journal] == ["/v1/deployment-groups", "/v1/whoami"]


@sqlite_only
def test_tokens_belong_to_their_namespace(kit, admin):
    minted = kit.post("/_test/ns/a/v1/deployment-groups/dg_fixture_main/tokens", headers=admin)
    token = bearer(minted.json()["token"])
    assert kit.get("/_test/ns/a/v1/whoami", headers=token).status_code == 200
    assert kit.get("/_test/ns/b/v1/whoami", headers=token).status_code == 401
    assert kit.get("/v1/whoami", headers=token).status_code == 401
    for headers in (admin, FIXTURE_ADMIN, DG):  # the server's admin token and the fixtures'
        assert kit.get("/_test/ns/c/v1/whoami", headers=headers).status_code == 200


@sqlite_only
def test_a_dropped_namespace_starts_again_from_the_fixtures(kit, admin):
    kit.post("/_test/ns/a/v1/deployment-groups", json={"name": "gone"}, headers=admin)
    assert kit.delete("/_test/ns/a", headers=DG).status_code == 403
    assert kit.delete("/_test/ns/a", headers=admin).json() == {"name": "a", "dropped": True}
    assert kit.delete("/_test/ns/a", headers=admin).json() == {"name": "a", "dropped": False}
    assert names(kit, "/_test/ns/a", admin) == {"main", "empty"}


@sqlite_only
@pytest.mark.parametrize("path", ["/_test/ns/a.b/v1/whoami", "/_test/ns/a%2F/v1/whoami",
                                  "/_test/ns/" + "x" * 65 + "/v1/whoami"])  # fmt: skip
def test_a_bad_namespace_name_is_404(kit, admin, path):
    response = kit.get(path, headers=admin)
    assert response.status_code == 404 and response.json()["code"] == "NOT_FOUND"


@pytest.mark.skipif(BACKEND != "postgres", reason="PostgreSQL's answer")
def test_on_postgresql_namespaces_are_a_clear_400(kit, admin):
    response = kit.get("/_test/ns/a/v1/whoami", headers=admin)
    assert response.status_code == 400 and "need SQLite" in response.json()["message"]
