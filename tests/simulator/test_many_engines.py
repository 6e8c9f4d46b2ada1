"""Many engines, no conflicts (docs/behaviour.md §9): two engines share 50 deployments on one
server, and the leases keep them apart. Runs on both databases; the PostgreSQL pass is the one
that exercises SKIP LOCKED across two gunicorn workers."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.simulator.conftest import Arranger, stack, wait_until

pytestmark = pytest.mark.slow

DEPLOYMENTS = 50
BATCH = 10


class Holds:
    """When each engine held which deployment, from the client side: from the moment acquire's
    answer arrived to the moment its release left. Those are inside the server's real lease, so
    two of them overlapping would prove two holders at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[tuple[str, str], float] = {}
        self.closed: list[tuple[str, str, float, float]] = []  # engine, deployment, start, end

    def hooks(self, engine: str) -> dict[str, list[Any]]:
        def on_request(request: httpx.Request) -> None:
            if request.url.path == "/v1/sync/release":
                body = httpx.Response(200, content=request.content).json()
                with self.lock:
                    start = self.open.pop((engine, body["deploymentId"]), None)
                    if start is not None:
                        self.closed.append((engine, body["deploymentId"], start, time.monotonic()))

        def on_response(response: httpx.Response) -> None:
            if response.request.url.path == "/v1/sync/acquire" and response.is_success:
                response.read()
                now = time.monotonic()
                with self.lock:
                    for item in response.json()["deployments"]:
                        self.open[(engine, item["deployment"]["id"])] = now

        return {"request": [on_request], "response": [on_response]}

    def overlaps(self) -> list[tuple[Any, Any]]:
        by_deployment: dict[str, list[tuple[str, float, float]]] = {}
        for engine, deployment_id, start, end in self.closed:
            by_deployment.setdefault(deployment_id, []).append((engine, start, end))
        found = []
        for spans in by_deployment.values():
            spans.sort(key=lambda span: span[1])
            for a, b in zip(spans, spans[1:], strict=False):
                if a[0] != b[0] and b[1] < a[2]:
                    found.append((a, b))
        return found


def test_two_engines_share_fifty_deployments_without_overlap(
    live_server: Any, arranger_for: Callable[[str], Arranger], engines: Any
) -> None:
    server = live_server()
    api = arranger_for(server.url)
    group_id, group_token = api.group(max_deployments=DEPLOYMENTS)
    ids = [api.deployment(group_token, f"d{i}")[0] for i in range(DEPLOYMENTS)]
    token = api.admin["Authorization"].removeprefix("Bearer ")
    holds = Holds()
    first = engines(server.url, token, batch=BATCH, event_hooks=holds.hooks("a"))
    second = engines(server.url, token, batch=BATCH, event_hooks=holds.hooks("b"))
    release = api.release(aws=stack())

    # about 30 s on a loaded two-core machine; the deadline only stops a broken run
    wait_until(lambda: api.all_at(ids, "running", release), 240, "all 50 running")
    for running in (first, second):
        assert running.stop() == 0
    transitions = first.transitions + second.transitions
    steps = Counter((t.deployment_id, t.before, t.after) for t in transitions)
    # every deployment took each of its three steps exactly once, between the two engines
    assert len(steps) == 3 * DEPLOYMENTS and set(steps.values()) == {1}
    assert first.transitions and second.transitions, "both engines did work"
    assert holds.closed and not holds.open, "every lease taken was released"
    assert holds.overlaps() == []
    assert first.loop.errors == second.loop.errors == 0
