"""The status walk (docs/behaviour.md §9) and what each step reports, checked against the spec's
own schemas: every state the engine can send is a valid ReconcileRequest body."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft4Validator

from app.contract.spec import component_schema
from harness import pg
from simulator import shapes
from simulator.steps import NEXT, FailureRules, Snapshot, advance

pytestmark = pg.once()  # docs: harness/pg.py

PLATFORMS = ["aws", "gcp", "azure", "kubernetes", "local", "test"]


def _stack(*resource_ids: str, kind: str = "function", tag: str = "v1") -> dict[str, Any]:
    return {
        "id": "app",
        "resources": {
            rid: {"config": {"id": rid, "type": kind, "tag": tag}, "lifecycle": "live",
                  "dependencies": []}
            for rid in resource_ids
        },
    }  # fmt: skip


STACKS = {"rel_1": _stack("api", "db"), "rel_2": _stack("api", "db", "queue", tag="v2")}


def snap(status: str, **extra: Any) -> Snapshot:
    fields: dict[str, Any] = {"desired_release_id": "rel_1"} | extra
    return Snapshot(
        "dep_1", fields.pop("name", "web"), fields.pop("platform", "aws"), status, **fields
    )


def step(s: Snapshot, failures: FailureRules | None = None) -> Any:
    return advance(s, STACKS.get, failures or FailureRules())


def valid(state: dict[str, Any]) -> None:
    body = {"deploymentId": "dep_1", "session": "s", "state": state}
    errors = list(Draft4Validator(component_schema("ReconcileRequest")).iter_errors(body))
    assert not errors, [e.message for e in errors]


#: status, stored fields, next status, then the reported currentRelease and targetRelease
WALK = [
    ("pending", {}, "initial-setup", None, "rel_1"),
    ("initial-setup", {}, "provisioning", None, "rel_1"),
    ("provisioning", {}, "running", "rel_1", None),
    ("update-pending", {"current_release_id": "rel_1", "desired_release_id": "rel_2"}, "updating", "rel_1", "rel_2"),
    ("updating", {"current_release_id": "rel_1", "desired_release_id": "rel_2"}, "running", "rel_2", None),
    ("update-pending", {"current_release_id": "rel_1", "desired_release_id": None}, "updating", "rel_1", None),
    ("delete-pending", {"current_release_id": "rel_1", "desired_release_id": None}, "deleting", "rel_1", None),
    ("deleting", {"current_release_id": "rel_1", "desired_release_id": None}, "deleted", "rel_1", None),
    ("provisioning-failed", {"retry_requested": True}, "provisioning", None, "rel_1"),
    ("update-failed", {"retry_requested": True, "current_release_id": "rel_1", "desired_release_id": "rel_2"}, "updating", "rel_1", "rel_2"),
    ("delete-failed", {"retry_requested": True, "current_release_id": "rel_1", "desired_release_id": None}, "deleting", "rel_1", None),
    ("refresh-failed", {"retry_requested": True, "current_release_id": "rel_1", "desired_release_id": None}, "running", "rel_1", None),
]  # fmt: skip


#: The status every resource reports after each step: docs/behaviour.md §9's table, written out
#: here, never read from the implementation's own table.
REPORTED = {
    "initial-setup": "pending",
    "provisioning": "provisioning",
    "running": "running",
    "updating": "updating",
    "deleting": "deleting",
    "deleted": "deleted",
}


@pytest.mark.parametrize("status, extra, after, current, target", WALK)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_one_step_per_call_with_a_spec_valid_state(
    status: str, extra: dict[str, Any], after: str, current: str | None, target: str | None,
    platform: str,
) -> None:  # fmt: skip
    t = step(snap(status, platform=platform, **extra))
    assert (t.before, t.after) == (status, after)
    state = t.state
    valid(state)
    assert state["status"] == after and state["platform"] == platform
    assert state.get("currentRelease", {}).get("releaseId") == current
    assert state.get("targetRelease", {}).get("releaseId") == target
    working = STACKS[target or current]  # type: ignore[index]
    assert sorted(state["stackState"]["resources"]) == sorted(working["resources"])
    assert state["stackState"]["platform"] == platform
    assert ("environmentInfo" in state) == (platform != "kubernetes")
    statuses = {r["status"] for r in state["stackState"]["resources"].values()}
    assert statuses == {REPORTED[after]}


@pytest.mark.parametrize(
    "status, extra",
    [
        ("running", {"current_release_id": "rel_1", "desired_release_id": None}),
        ("pending", {"desired_release_id": None}),  # nothing to deploy yet
        ("pending", {"desired_release_id": "rel_unknown"}),  # no stack for this platform
        ("provisioning-failed", {"retry_requested": False}),  # failed, nobody asked for a retry
        ("deleted", {}),
    ],
)
def test_nothing_to_do(status: str, extra: dict[str, Any]) -> None:
    assert step(snap(status, **extra)) is None


def test_a_deletion_needs_no_release() -> None:
    t = step(snap("delete-pending", desired_release_id=None))
    assert t.after == "deleting"
    assert t.state["stackState"]["resources"] == {}
    valid(t.state)


def test_an_update_reports_the_previous_config() -> None:
    t = step(snap("update-pending", current_release_id="rel_1", desired_release_id="rel_2"))
    resources = t.state["stackState"]["resources"]
    assert resources["api"]["previousConfig"]["tag"] == "v1"
    assert "previousConfig" not in resources["queue"]  # new in this release


def test_running_resources_have_outputs_in_the_spec_shape() -> None:
    t = step(snap("provisioning"))
    valid(t.state)
    api = t.state["stackState"]["resources"]["api"]["outputs"]
    assert api["type"] == "function" and api["url"].startswith("https://")
    assert api["arn"].startswith("arn:aws:function:us-east-1:")


@pytest.mark.parametrize(
    "name, rules, status, failed",
    [
        ("web fail-at:provisioning", (), "provisioning", "provisioning-failed"),
        ("web fail-at:initial-setup", (), "initial-setup", "initial-setup-failed"),
        ("web", (("w*", "provisioning"),), "provisioning", "provisioning-failed"),
        ("web", (("w*", "updating"),), "updating", "update-failed"),
        ("web", (("w*", "deleting"),), "deleting", "delete-failed"),
    ],
)
def test_marked_steps_fail_once_then_a_retry_succeeds(
    name: str, rules: tuple[tuple[str, str], ...], status: str, failed: str
) -> None:
    failures = FailureRules(rules)
    extra = {"current_release_id": "rel_1"} if status in ("updating", "deleting") else {}
    t = step(snap(status, name=name, **extra), failures)
    assert t.after == failed
    valid(t.state)
    resources = list(t.state["stackState"]["resources"].values())
    error = resources[0]["error"]
    assert Draft4Validator(component_schema("AlienError")).is_valid(error)
    assert error["code"] == "SIMULATED_FAILURE" and error["context"]["step"] == status
    assert all("error" not in r for r in resources[1:])
    # POST /retry sets retryRequested: back to the step, then past it
    again = step(snap(failed, name=name, retry_requested=True,
                      stack_state=t.state["stackState"], **extra), failures)  # fmt: skip
    assert again.after == status
    assert {r["retryAttempt"] for r in again.state["stackState"]["resources"].values()} == {1}
    done = step(snap(status, name=name, stack_state=again.state["stackState"], **extra), failures)
    assert done.after == NEXT[status]
    valid(done.state)


def test_other_names_and_steps_do_not_fail() -> None:
    failures = FailureRules((("web*", "provisioning"),))
    assert step(snap("provisioning", name="api"), failures).after == "running"
    assert step(snap("initial-setup", name="web-1"), failures).after == "provisioning"
    assert step(snap("provisioning", name="x fail-at:updating"), failures).after == "running"


def test_a_seeded_failure_rate_repeats() -> None:
    def run(seed: int) -> list[str]:
        failures = FailureRules(rate=0.5, seed=seed)
        return [step(snap("provisioning", name=f"d{i}"), failures).after for i in range(40)]

    first = run(7)
    assert first == run(7)
    assert 5 < first.count("provisioning-failed") < 35


@pytest.mark.parametrize("rule", ["provisioning", ":provisioning", "web:melting"])
def test_bad_rules_are_refused(rule: str) -> None:
    with pytest.raises(ValueError):
        FailureRules((FailureRules.parse(rule),))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_environment_info_is_the_spec_variant_for_the_platform(platform: str) -> None:
    info = shapes.environment_info(platform, "dep_1")
    if platform == "kubernetes":
        assert info is None  # the spec's EnvironmentInfo has no kubernetes variant
        return
    assert info is not None and info["platform"] == platform
    assert Draft4Validator(component_schema("EnvironmentInfo")).is_valid(info)
    assert info == shapes.environment_info(platform, "dep_1")  # the same from every engine
    assert info != shapes.environment_info(platform, "dep_2") or platform == "local"


@pytest.mark.parametrize(
    "later, extra, failed",
    [
        ("update-pending", {"desired_release_id": "rel_2"}, "update-failed"),
        ("delete-pending", {"desired_release_id": None}, "delete-failed"),
    ],
)
def test_a_retry_that_succeeded_leaves_later_failure_rules_in_force(
    later: str, extra: dict[str, Any], failed: str
) -> None:
    """The retry count starts afresh once the work succeeds: a deployment whose provisioning
    failed and was retried still fails a later step its rules name."""
    failures = FailureRules((("web", "provisioning"), ("web", "updating"), ("web", "deleting")))
    walked = step(snap("provisioning"), failures)
    assert walked.after == "provisioning-failed"
    walked = step(snap("provisioning-failed", retry_requested=True,
                       stack_state=walked.state["stackState"]), failures)  # fmt: skip
    assert walked.after == "provisioning"  # the retry, marked as one: it succeeds
    walked = step(snap("provisioning", stack_state=walked.state["stackState"]), failures)
    assert walked.after == "running"
    assert all("retryAttempt" not in r for r in walked.state["stackState"]["resources"].values())
    # An admin asks for an update or a deletion: the server stores its status, the state stays.
    state = walked.state["stackState"]
    walked = step(snap(later, current_release_id="rel_1", stack_state=state, **extra), failures)
    assert walked.after == NEXT[later]
    state = walked.state["stackState"]
    walked = step(snap(NEXT[later], current_release_id="rel_1", stack_state=state, **extra),
                  failures)  # fmt: skip
    assert walked.after == failed
