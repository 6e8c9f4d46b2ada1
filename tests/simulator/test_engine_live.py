"""The simulated engine against a live gunicorn server (docs/behaviour.md §9): push mode end to
end, failure injection and retry, pull mode with a deployment token."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from jsonschema import Draft4Validator

from app.contract.spec import component_schema
from tests.simulator.conftest import Arranger, Running, stack, wait_until

pytestmark = pytest.mark.slow

SETUP = [
    ("pending", "initial-setup"),
    ("initial-setup", "provisioning"),
    ("provisioning", "running"),
]
UPDATE = [("update-pending", "updating"), ("updating", "running")]
DELETE = [("delete-pending", "deleting"), ("deleting", "deleted")]


def walks(running: Running) -> dict[str, list[tuple[str, str]]]:
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for t in running.transitions:
        seen[t.deployment_id].append((t.before, t.after))
    return seen


def test_push_mode_setup_update_and_delete(
    live_server: Any, arranger_for: Callable[[str], Arranger], engines: Any
) -> None:
    server = live_server()
    api = arranger_for(server.url)
    _, group_token = api.group()
    aws, aws_token = api.deployment(group_token, "web-aws", "aws")
    gcp, _ = api.deployment(group_token, "web-gcp", "gcp")
    engine = engines(server.url, api.admin["Authorization"].removeprefix("Bearer "))
    first = api.release(aws=stack("v1"), gcp=stack("v1"))

    wait_until(lambda: api.all_at([aws, gcp], "running", first), what="both running")
    assert walks(engine)[aws] == SETUP and walks(engine)[gcp] == SETUP
    for deployment_id, platform in ((aws, "aws"), (gcp, "gcp")):
        d = api.get(deployment_id)
        assert "desiredReleaseId" not in d
        assert d["environmentInfo"]["platform"] == platform
        resources = d["stackState"]["resources"]
        assert sorted(resources) == ["api", "files"]
        assert {r["status"] for r in resources.values()} == {"running"}
        assert resources["api"]["outputs"]["type"] == "function"

    second = api.release(aws=stack("v2"), gcp=stack("v2"))
    wait_until(lambda: api.all_at([aws, gcp], "running", second), what="both on the new release")
    assert walks(engine)[aws] == SETUP + UPDATE and walks(engine)[gcp] == SETUP + UPDATE
    assert api.get(aws)["stackState"]["resources"]["api"]["config"]["tag"] == "v2"

    assert api.call("DELETE", f"/v1/deployments/{aws}").status_code == 202
    wait_until(lambda: api.call("GET", f"/v1/deployments/{aws}").status_code == 404, what="gone")
    assert walks(engine)[aws] == SETUP + UPDATE + DELETE
    assert api.call("GET", f"/v1/deployments/{aws}", aws_token).status_code == 401  # revoked
    assert api.get(gcp)["status"] == "running"
    assert engine.stop() == 0
    assert engine.loop.errors == 0


def test_a_marked_deployment_fails_at_its_step_and_a_retry_brings_it_to_running(
    live_server: Any, arranger_for: Callable[[str], Arranger], engines: Any
) -> None:
    server = live_server()
    api = arranger_for(server.url)
    _, group_token = api.group()
    failing, _ = api.deployment(group_token, "shop fail-at:provisioning")
    ruled, _ = api.deployment(group_token, "cart")
    plain, _ = api.deployment(group_token, "plain")
    # a deployment-group token is enough for a push engine over its own group
    engine = engines(server.url, group_token, failures=_rules(("car*", "initial-setup")))
    release = api.release(aws=stack())

    wait_until(lambda: api.get(failing)["status"] == "provisioning-failed", what="failed")
    wait_until(lambda: api.get(ruled)["status"] == "initial-setup-failed", what="failed")
    wait_until(lambda: api.all_at([plain], "running", release), what="the other one runs")
    for deployment_id, step in ((failing, "provisioning"), (ruled, "initial-setup")):
        d = api.get(deployment_id)
        assert Draft4Validator(component_schema("AlienError")).is_valid(d["error"])
        assert d["error"]["code"] == "SIMULATED_FAILURE"
        assert d["error"]["context"] == {
            "deployment_id": deployment_id, "resource_id": "api", "step": step,
        }  # fmt: skip
        assert d["stackState"]["resources"]["api"]["error"] == d["error"]
        assert "currentReleaseId" not in d

    for deployment_id in (failing, ruled):
        assert api.ok("POST", f"/v1/deployments/{deployment_id}/retry") == {"success": True}
    wait_until(lambda: api.all_at([failing, ruled], "running", release), what="retried")
    assert "error" not in api.get(failing)
    assert walks(engine)[failing] == [
        *SETUP[:2], ("provisioning", "provisioning-failed"),
        ("provisioning-failed", "provisioning"), ("provisioning", "running"),
    ]  # fmt: skip


def test_pull_mode_operator_with_a_deployment_token(
    live_server: Any, arranger_for: Callable[[str], Arranger], engines: Any
) -> None:
    server = live_server()
    api = arranger_for(server.url)
    _, group_token = api.group()
    first = api.release(kubernetes=stack("v1"))
    created = api.call("POST", "/v1/initialize", group_token, json={"name": "edge-1"})
    assert created.status_code == 201
    deployment_id, token = created.json()["deploymentId"], created.json()["token"]
    assert api.get(deployment_id)["stackSettings"]["deploymentModel"] == "pull"
    # a push engine on the same server leaves pull-mode deployments to their operator
    pusher = engines(server.url, api.admin["Authorization"].removeprefix("Bearer "))
    operator = engines(server.url, token, operator=True)

    wait_until(lambda: api.all_at([deployment_id], "running", first), what="operator: running")
    second = api.release(kubernetes=stack("v2"))
    wait_until(lambda: api.all_at([deployment_id], "running", second), what="updated")
    assert api.call("DELETE", f"/v1/deployments/{deployment_id}").status_code == 202
    operator.thread.join(60)
    assert not operator.thread.is_alive(), "the operator stops once its deployment is deleted"
    assert operator.result == [0]
    assert api.call("GET", f"/v1/deployments/{deployment_id}").status_code == 404
    assert walks(operator)[deployment_id] == SETUP + UPDATE + DELETE
    assert not pusher.transitions
    paths = {r.url.path for r in operator.sent}
    assert {"/v1/initialize", "/v1/sync", "/v1/sync/reconcile"} <= paths
    assert "/v1/sync/acquire" not in paths  # operators never lease


def _rules(*rules: tuple[str, str]) -> Any:
    from simulator.steps import FailureRules

    return FailureRules(rules)
