"""Fixtures for the simulator against live servers: an HTTP arranger, and engines in threads
whose every request is recorded (and every reconcile body checked against the spec)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from jsonschema import Draft4Validator

from app.contract.spec import component_schema
from app.settings import Settings
from simulator.api import Api
from simulator.engine import Engine, Loop, Operator
from simulator.steps import Transition
from tests import oas

TICK = 0.05  # seconds: short ticks, generous deadlines (the machine is shared)
DEADLINE = 90.0


def wait_until(predicate: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


class Arranger:
    """Sets up state through the live server's public API; every response checked by oas."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=30)
        self.admin = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else self.admin
        response = self.http.request(method, path, headers=headers, **kwargs)
        oas.check(response)
        return response

    def ok(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = self.call(method, path, token, **kwargs)
        assert response.is_success, response.text
        return response.json()

    def group(self, name: str = "g", max_deployments: int = 100) -> tuple[str, str]:
        group = self.ok("POST", "/v1/deployment-groups",
                        json={"name": name, "maxDeployments": max_deployments})  # fmt: skip
        token = self.ok("POST", f"/v1/deployment-groups/{group['id']}/tokens")["token"]
        return group["id"], token

    def deployment(self, group_token: str, name: str, platform: str = "aws") -> tuple[str, str]:
        created = self.ok("POST", "/v1/deployments", group_token,
                          json={"name": name, "platform": platform})  # fmt: skip
        return created["deployment"]["id"], created["token"]

    def release(self, **stacks: Any) -> str:
        return str(self.ok("POST", "/v1/releases", json={"stack": stacks})["id"])

    def get(self, deployment_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", f"/v1/deployments/{deployment_id}")
        return found

    def all_at(self, ids: list[str], status: str, release_id: str) -> bool:
        listed = {d["id"]: d for d in self.ok("GET", "/v1/deployments")["items"]}
        return all(
            i in listed
            and listed[i]["status"] == status
            and listed[i].get("currentReleaseId") == release_id
            for i in ids
        )


def stack(tag: str = "v1") -> dict[str, Any]:
    """A spec-valid Stack with two resources of different types."""
    return {
        "id": "app",
        "resources": {
            rid: {"config": {"id": rid, "type": kind, "tag": tag}, "lifecycle": "live",
                  "dependencies": []}
            for rid, kind in (("api", "function"), ("files", "storage"))
        },
    }  # fmt: skip


@dataclass
class Running:
    loop: Loop
    thread: threading.Thread
    sent: list[httpx.Request] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    result: list[int] = field(default_factory=list)

    def stop(self, timeout: float = 30.0) -> int:
        self.loop.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the engine did not stop"
        return self.result[0]


RECONCILE = Draft4Validator(component_schema("ReconcileRequest"))


@pytest.fixture
def engines() -> Iterator[Callable[..., Running]]:
    """Start push engines (or, with operator=True, operators) in threads; stopped at teardown.
    Every reconcile body they send must be a valid ReconcileRequest."""
    started: list[Running] = []

    def start(url: str, token: str, *, operator: bool = False, **options: Any) -> Running:
        sent: list[httpx.Request] = []
        hooks = dict(options.pop("event_hooks", {}))
        hooks.setdefault("request", []).append(sent.append)
        http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10,
            event_hooks=hooks,
        )  # fmt: skip
        options.setdefault("tick", TICK)
        transitions: list[Transition] = []
        options["observer"] = transitions.append
        loop: Loop = Operator(Api(http), **options) if operator else Engine(Api(http), **options)
        running = Running(loop, threading.Thread(target=lambda: None), sent, transitions)
        running.thread = threading.Thread(target=lambda: running.result.append(loop.run()))
        running.thread.start()
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()
        running.loop.api.http.close()
    for running in started:
        for request in running.sent:
            if request.url.path == "/v1/sync/reconcile":
                body = httpx.Response(200, content=request.content).json()
                errors = [e.message for e in RECONCILE.iter_errors(body)]
                assert not errors, errors


@pytest.fixture
def arranger_for(settings: Settings) -> Iterator[Callable[[str], Arranger]]:
    made: list[Arranger] = []

    def make(url: str) -> Arranger:
        assert settings.admin_token is not None
        made.append(Arranger(url, settings.admin_token))
        return made[-1]

    yield make
    for arranger in made:
        arranger.http.close()
