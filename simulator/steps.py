"""The status walk of docs/behaviour.md §9, one step at a time, as pure functions.

A step reads a deployment as the server last stored it (a `Snapshot`) and returns the whole
`DeploymentState` to reconcile: reconcile replaces status, stackState, environmentInfo and the
current release with what it is sent (absent clears, §7.2), so every state is complete.

    pending → initial-setup → provisioning → running                (current := desired)
    update-pending → updating → running                             (current := desired)
    delete-pending → deleting → deleted                             (the server then removes it)
    X-failed with retryRequested → X                                (then on as above)

Failures are deterministic (§9): the work of step X (`initial-setup`, `provisioning`, `updating`,
`deleting`) fails, giving `X-failed` (`update-failed`, ...), when the deployment's name contains
`fail-at:X`, when a `--fail GLOB:X` rule matches its name, or at random with a seeded rate. Only a
first attempt fails: a retry marks the resources with `retryAttempt` (a spec field, so whichever
engine picks the deployment up next sees it), and every step from there to `running` (or
`deleted`) succeeds; the count starts afresh after that.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from simulator import shapes

#: The next status after the work of each status is done.
NEXT = {
    "pending": "initial-setup",
    "initial-setup": "provisioning",
    "provisioning": "running",
    "update-pending": "updating",
    "updating": "running",
    "delete-pending": "deleting",
    "deleting": "deleted",
}
#: Steps whose work may fail, and the status a failure leaves.
FAILED = {
    "initial-setup": "initial-setup-failed",
    "provisioning": "provisioning-failed",
    "updating": "update-failed",
    "deleting": "delete-failed",
}
#: A failed status with retryRequested goes back to the step that failed.
RETRY = {failed: step for step, failed in FAILED.items()} | {"refresh-failed": "running"}
DELETING = ("delete-pending", "deleting", "delete-failed")
MARKER = re.compile(r"fail-at:(" + "|".join(map(re.escape, FAILED)) + ")")


@dataclass(frozen=True)
class Snapshot:
    """A deployment as stored, whichever form the server gave it in."""

    id: str
    name: str
    platform: str
    status: str
    retry_requested: bool = False
    current_release_id: str | None = None
    desired_release_id: str | None = None
    stack_settings: Mapping[str, Any] = field(default_factory=dict)
    stack_state: Mapping[str, Any] | None = None

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Snapshot:
        """From acquire's raw record (snake_case, explicit nulls, §7.1)."""
        return cls(
            r["id"], r["name"], r["platform"], r["status"], bool(r.get("retry_requested")),
            r.get("current_release_id"), r.get("desired_release_id"),
            r.get("stack_settings") or {}, r.get("stack_state"),
        )  # fmt: skip

    @classmethod
    def from_response(cls, d: Mapping[str, Any]) -> Snapshot:
        """From a DeploymentResponse (camelCase, optional fields omitted, §4)."""
        return cls(
            d["id"], d["name"], d["platform"], d["status"], bool(d.get("retryRequested")),
            d.get("currentReleaseId"), d.get("desiredReleaseId"),
            d.get("stackSettings") or {}, d.get("stackState"),
        )  # fmt: skip

    @property
    def pull(self) -> bool:
        return self.stack_settings.get("deploymentModel") == "pull"

    @property
    def target_release_id(self) -> str | None:
        """The release the next step works towards (none for deletions)."""
        if self.status in DELETING:
            return None
        return self.desired_release_id or self.current_release_id  # current: a redeploy

    @property
    def workable(self) -> bool:
        """§9: work to do, and a release to do it with (deletions need none)."""
        if not (self.status in NEXT or self.status in RETRY and self.retry_requested):
            return False
        return self.status in DELETING or self.target_release_id is not None

    @property
    def retry_attempt(self) -> int:
        resources = (self.stack_state or {}).get("resources") or {}
        return max((int(r.get("retryAttempt") or 0) for r in resources.values()), default=0)


@dataclass
class FailureRules:
    """Which step fails for which deployment: name markers, `--fail` rules, a seeded rate."""

    rules: tuple[tuple[str, str], ...] = ()
    rate: float = 0.0
    seed: int | None = None
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for _, step in self.rules:
            if step not in FAILED:
                raise ValueError(f"unknown step {step!r}; one of {', '.join(FAILED)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("the failure rate is a probability, between 0 and 1")
        self._random = random.Random(self.seed)

    @staticmethod
    def parse(rule: str) -> tuple[str, str]:
        glob, sep, step = rule.rpartition(":")
        if not sep or not glob:
            raise ValueError(f"expected NAME_GLOB:STEP, got {rule!r}")
        if step not in FAILED:
            raise ValueError(f"unknown step {step!r}; one of {', '.join(FAILED)}")
        return glob, step

    def reason(self, name: str, step: str) -> str | None:
        """Why the work of `step` fails for a deployment called `name`, or None."""
        if step in MARKER.findall(name):
            return f"name marker fail-at:{step}"
        for glob, failing in self.rules:
            if failing == step and fnmatch.fnmatchcase(name, glob):
                return f"rule {glob}:{step}"
        if self.rate and self._random.random() < self.rate:
            return f"random failure (rate {self.rate})"
        return None


@dataclass(frozen=True)
class Transition:
    deployment_id: str
    name: str
    before: str
    after: str
    state: dict[str, Any]  # the DeploymentState to reconcile


StackLookup = Callable[[str], "dict[str, Any] | None"]


def advance(snap: Snapshot, stack_of: StackLookup, failures: FailureRules) -> Transition | None:
    """The next step of `snap`, or None when it has nothing to do. `stack_of(release_id)` is the
    release's stack for the deployment's platform (None when the release has none)."""
    if not snap.workable:
        return None
    target_id = snap.target_release_id
    if target_id is not None and stack_of(target_id) is None:
        return None  # the release has no stack for this platform: nothing to deploy
    attempt = snap.retry_attempt
    if snap.status in RETRY:  # retryRequested: back to the step that failed, marked as a retry
        after, attempt = RETRY[snap.status], attempt + 1
    else:
        step, after = snap.status, NEXT[snap.status]
        if step in FAILED and attempt == 0:
            reason = failures.reason(snap.name, step)
            if reason is not None:
                return _transition(snap, FAILED[step], stack_of, attempt, (step, reason))
    if after in ("running", "deleted"):
        attempt = 0  # the work succeeded: the next step starts afresh
    return _transition(snap, after, stack_of, attempt, None)


def _transition(
    snap: Snapshot,
    after: str,
    stack_of: StackLookup,
    attempt: int,
    failure: tuple[str, str] | None,
) -> Transition:
    current_id, target_id = snap.current_release_id, snap.target_release_id
    if after == "running":
        current_id = target_id or current_id  # the work is done: current := desired
    current = _release(current_id, stack_of)
    target = _release(target_id, stack_of) if target_id != current_id else None
    working = target or current
    state: dict[str, Any] = {"status": after, "platform": snap.platform}
    if current is not None:
        state["currentRelease"] = current
    if target is not None and after != "deleted":
        state["targetRelease"] = target
    if after != "pending":
        info = shapes.environment_info(snap.platform, snap.id)
        if info is not None:
            state["environmentInfo"] = info
    stack = working["stack"] if working else _stack_from_state(snap.stack_state)
    previous = current["stack"] if current and target else None
    state["stackState"] = shapes.stack_state(
        snap, stack, after, attempt=attempt, previous=previous, failure=failure
    )
    return Transition(snap.id, snap.name, snap.status, after, state)


def _release(release_id: str | None, stack_of: StackLookup) -> dict[str, Any] | None:
    if release_id is None:
        return None
    stack = stack_of(release_id)
    return None if stack is None else {"releaseId": release_id, "stack": stack}


def _stack_from_state(stack_state: Mapping[str, Any] | None) -> dict[str, Any]:
    """A deployment without any release still has whatever resources it last reported."""
    resources = (stack_state or {}).get("resources") or {}
    return {
        "id": "unknown",
        "resources": {
            rid: {
                "config": r["config"],
                "lifecycle": r.get("lifecycle") or "live",
                "dependencies": r.get("dependencies") or [],
            }
            for rid, r in resources.items()
        },
    }
