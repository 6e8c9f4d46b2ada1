"""Schemathesis over the verbatim openapi.json, against the in-process app, as every caller.

The schema is the file itself (not the overlay Connexion serves), with the deviations of
schemathesis.toml and nothing else. Every schemathesis check runs, plus the checks of
tests/contract/hooks.py (openapi-core on every response, docs/behaviour.md §2 scope, semantic-only
400s for schema-valid input). The admin runs every operation through the examples, coverage
and fuzzing phases; a deployment-group token and a deployment token run every operation through
examples and fuzzing; all three run the stateful phase, where the links schemathesis infers
carry the groups, deployments and releases it creates into later calls.

`make contract` runs the same schema, config and checks much deeper, over HTTP against a real
server (tests/contract/run.py).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky
from schemathesis.config import SchemathesisConfig

import tests.contract.hooks  # noqa: F401  (registers the custom checks)
from app.contract.overlay import overlay
from app.contract.spec import operations, raw_spec
from app.settings import CloudSettings, Settings
from tests.contract import DeploymentToken, cloud_env
from tests.helpers import SPEC_PATH, contains

CONFIG_PATH = Path(__file__).resolve().parent.parent / "schemathesis.toml"
#: Per operation and caller: fuzzing examples (coverage cases come on top).
MAX_EXAMPLES = 10
#: Stateful phase per caller: scenarios, and calls per scenario.
SCENARIOS = 25
STEPS = 10
#: The name the `world` fixture gives its deployment (tests/conftest.py).
DEPLOYMENT_NAME = "first"
FAST = hypothesis_settings(deadline=None, suppress_health_check=list(HealthCheck))


def load_schema(phases: list[str] | None = None) -> Any:
    config = SchemathesisConfig.from_path(CONFIG_PATH)
    if phases is not None:
        config.projects.override.phases.update(phases=phases)
    return schemathesis.openapi.from_path(SPEC_PATH, config=config)


schema = load_schema()
#: For token callers the coverage phase (request shapes, the same for every caller and by far
#: the longest: ~4 500 cases for reconcile alone) is left to the admin run.
token_schema = load_schema(["examples", "fuzzing", "stateful"])


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """A fully configured server: every cloud's credentials (see tests/contract)."""
    cloud = CloudSettings.from_env(cloud_env(tmp_path))
    return dataclasses.replace(settings, cloud=cloud)


class Caller:
    """Who calls: the admin, the group's token, or the deployment's (kept valid, see
    tests/contract.DeploymentToken)."""

    def __init__(self, kind: str, world: Any, client: Any) -> None:
        self.kind = kind
        self.fixed = {"admin": world.admin, "deployment-group": world.group}.get(kind)
        self.keeper = DeploymentToken(
            client, token_of(world.group), token_of(world.deployment), DEPLOYMENT_NAME
        )

    def headers(self) -> dict[str, str]:
        return self.fixed if self.fixed is not None else self.keeper.headers()


def token_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture(params=["admin", "deployment-group", "deployment"])
def caller(request: pytest.FixtureRequest, world: Any, client: Any) -> Caller:
    return Caller(request.param, world, client)


@pytest.fixture(params=["deployment-group", "deployment"])
def token(request: pytest.FixtureRequest, world: Any, client: Any) -> Caller:
    return Caller(request.param, world, client)


@schema.parametrize()
@hypothesis_settings(FAST, max_examples=MAX_EXAMPLES)
def test_operation_as_admin(case: Any, app: Any, world: Any) -> None:
    case.call_and_validate(headers=world.admin, app=app)


@token_schema.parametrize()
@hypothesis_settings(FAST, max_examples=MAX_EXAMPLES)
def test_operation_as_token(case: Any, app: Any, token: Caller) -> None:
    case.call_and_validate(headers=token.headers(), app=app)


def test_stateful(app: Any, caller: Caller) -> None:
    failures: list[BaseException] = []

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": caller.headers(), "app": app}

        def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, *args, **kwargs)
            except BaseException as exc:
                failures.append(exc)
                raise

    try:
        Workflow.run(
            settings=hypothesis_settings(FAST, max_examples=SCENARIOS, stateful_step_count=STEPS)
        )
    except Flaky:
        # Scenarios share one server, whose state moves on: when Hypothesis replays a scenario
        # the links may carry other values, and it calls the data generation flaky. The CLI's
        # engine treats this the same way: a failure seen on the way is still reported.
        if failures:
            raise failures[0] from None


def test_every_operation_is_fuzzed() -> None:
    """Nothing is filtered out: a new operation in the file is fuzzed without a change here."""
    fuzzed = {op.ok().definition.raw["operationId"] for op in schema.get_all_operations()}
    assert fuzzed == {op["operationId"] for _, _, op in operations(raw_spec())}
    assert len(fuzzed) == 22


def test_stateful_phase_has_links() -> None:
    """The spec declares no links; schemathesis infers them (create -> get/use by id)."""
    machine = schema.as_state_machine()
    assert schema.statistic.transitions.total > 0, machine


def test_the_overlay_as_a_whole_only_adds() -> None:
    """The app serves the overlay while schemathesis reads the file: that is only sound while
    every key and value of the file is in the overlay unchanged."""
    assert contains(overlay(raw_spec()), raw_spec()) == []


def test_a_null_beside_a_combinator_is_omitted_from_typed_responses(
    client: Any, world: Any
) -> None:
    """`StackResourceState.error` is `allOf` + `nullable` with no `type`: the server accepts the
    `null` a Rust engine sends, and where it echoes it in a typed response (reconcile's
    `current` is a `DeploymentState`) omits it, as a strict OpenAPI 3.0 reader (the `client`'s
    openapi-core check) would reject it."""
    resource = {"type": "function", "status": "running", "config": {"id": "fn", "type": "function"},
                "error": None, "outputs": None, "lifecycle": None}  # fmt: skip
    state = {"platform": "aws", "status": "running", "currentRelease": None,
             "stackState": {"platform": "aws", "resourcePrefix": "p", "resources": {"fn": resource}}}  # fmt: skip
    body = {"deploymentId": world.deployment_id, "session": "s", "state": state}
    response = client.post("/v1/sync/reconcile", json=body, headers=world.deployment)
    assert response.status_code == 200, response.text
    current = response.json()["current"]
    assert "currentRelease" not in current
    assert current["stackState"]["resources"]["fn"] == {
        "type": "function", "status": "running", "config": {"id": "fn", "type": "function"}
    }  # fmt: skip
