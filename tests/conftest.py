"""Fixtures in the flaskr shape: settings -> app -> client, and callers of every kind.

The suite runs once per database: `ALIEN_TEST_DB=sqlite` (default; a temp *file* per test) or
`ALIEN_TEST_DB=postgres` (a fresh schema per test in a database made for the run, see harness/pg.py).
Every response a `client` receives is validated twice: by Connexion (validate_responses) and by
openapi-core against the verbatim spec (tests/oas.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from app.contract import validation
from app.factory import create_app
from app.settings import Settings
from harness import pg
from models import clock
from models.db import db
from tests.helpers import ContractClient, bearer

BACKEND = os.environ.get("ALIEN_TEST_DB", "sqlite")


def pytest_report_header() -> str:
    return f"alien: database backend = {BACKEND}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[pg.TestDatabase | None]:
    if BACKEND != "postgres":
        yield None
        return
    if not pg.reachable():
        pytest.exit(
            f"ALIEN_TEST_DB=postgres but no PostgreSQL answers at {pg.admin_url()} "
            "(set ALIEN_TEST_POSTGRES_URL)",
            returncode=3,
        )
    pg.TestDatabase.drop_leftovers()
    database = pg.TestDatabase()
    database.create()
    yield database
    close_database()
    database.drop()


@pytest.fixture
def database_url(tmp_path: Path, pg_database: pg.TestDatabase | None) -> Iterator[str]:
    """A fresh, empty database for one test."""
    if pg_database is None:
        yield f"sqlite:///{tmp_path / 'alien.db'}"
        return
    schema, url = pg_database.schema()
    yield url
    close_database()
    pg_database.drop_schema(schema)


def close_database() -> None:
    """Give back this thread's connection and empty the pool, so the schema can be dropped."""
    if db.obj is None:
        return
    if not db.is_closed():
        db.close()
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        database_url=database_url,
        admin_token="ax_admin_" + "0" * 40,
        validate_responses=True,
        db_max_connections=4,
    )


@pytest.fixture(scope="session", autouse=True)
def _validate_spec_once() -> Iterator[None]:
    """Connexion validates the whole spec on every app it builds (~0.5 s). The overlaid spec
    is the same for every test, so the suite validates it once, for real, then skips that."""
    from connexion.spec import OpenAPISpecification

    from app.contract.overlay import overlay
    from app.contract.spec import raw_spec

    OpenAPISpecification._validate_spec(overlay(raw_spec()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OpenAPISpecification, "_validate_spec", classmethod(lambda cls, spec: None))
        yield


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture(autouse=True)
def _forget_validators() -> Iterator[None]:
    """Every app builds its validators for its own spec objects, and app/contract/validation.py
    keeps them by schema object in a table bounded only at thousands of entries. No later test
    can hit an earlier test's entries (new app, new schema objects), so after each test they
    only hold on to that app's spec. (The compiled fast path is shared by content across apps,
    app/contract/fast.py: before it was, this table made the suite grow past 9 GB.)"""
    yield
    validation._BUILT.clear()


@pytest.fixture
def app(settings: Settings) -> Any:
    return create_app(settings)


@pytest.fixture
def client(app: Any) -> Iterator[ContractClient]:
    with ContractClient(app) as test_client:
        yield test_client


@dataclass
class World:
    """A small world through the API: a group, a DG token, a deployment and its token."""

    admin: dict[str, str]
    group_id: str
    group: dict[str, str]
    deployment_id: str
    deployment: dict[str, str]
    other_group_id: str
    other_deployment_id: str


@pytest.fixture
def admin(settings: Settings) -> dict[str, str]:
    assert settings.admin_token is not None
    return bearer(settings.admin_token)


@pytest.fixture
def api(client: ContractClient, admin: dict[str, str]) -> Api:
    return Api(client, admin)


class Api:
    """Short helpers for arranging state through the public API (never behind its back)."""

    def __init__(self, client: ContractClient, admin: dict[str, str]) -> None:
        self.client = client
        self.admin = admin

    def group(self, name: str = "g", max_deployments: int | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if max_deployments is not None:
            body["maxDeployments"] = max_deployments
        response = self.client.post("/v1/deployment-groups", json=body, headers=self.admin)
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    def group_token(self, group_id: str) -> dict[str, str]:
        response = self.client.post(f"/v1/deployment-groups/{group_id}/tokens", headers=self.admin)
        assert response.status_code == 200, response.text
        return bearer(response.json()["token"])

    def deployment(
        self, group_token: dict[str, str], name: str = "d", platform: str = "aws", **extra: Any
    ) -> tuple[str, dict[str, str]]:
        """Create through a DG token, which also mints the deployment's own token."""
        response = self.client.post(
            "/v1/deployments",
            json={"name": name, "platform": platform, **extra},
            headers=group_token,
        )
        assert response.status_code == 201, response.text
        return response.json()["deployment"]["id"], bearer(response.json()["token"])

    def release(self, **stacks: Any) -> str:
        response = self.client.post("/v1/releases", json={"stack": stacks}, headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        response = self.client.get(path, headers=headers or self.admin)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def world(api: Api) -> World:
    group_id = api.group("main")
    group = api.group_token(group_id)
    deployment_id, deployment = api.deployment(group, "first")
    other_group_id = api.group("other")
    other_deployment_id, _ = api.deployment(api.group_token(other_group_id), "elsewhere")
    return World(
        api.admin, group_id, group, deployment_id, deployment, other_group_id, other_deployment_id
    )


@pytest.fixture
def live_server(tmp_path: Path, database_url: str, settings: Settings) -> Iterator[Any]:
    """A factory of real gunicorn servers on this test's database (stopped at teardown)."""
    from harness.server import LiveServer

    servers: list[LiveServer] = []

    def start(workers: int = 2, **env: str) -> LiveServer:
        assert settings.admin_token is not None
        server = LiveServer(
            database_url,
            tmp_path / f"live{len(servers)}",
            workers=workers,
            env={"ALIEN_ADMIN_TOKEN": settings.admin_token, **env},
        )
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()
