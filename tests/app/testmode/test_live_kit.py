"""Stubs, the journal and the clock against real servers (docs/behaviour.md §13.5, §13.7,
§13.8): two instances of two workers each on one database. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.server import LiveServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "docs" / "fixtures.example.yaml"
TIMEOUT = 60  # per request: bounds a wedged server, never asserted on


def call(server: LiveServer, method: str, path: str, headers: dict[str, str],
         body: Any = None) -> httpx.Response:  # fmt: skip
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=TIMEOUT)


def test_stubs_and_the_journal_are_one_across_instances(live_server, admin):
    """A stub for 5 calls answers exactly 5 of 40 concurrent requests spread over both
    instances; then, with no polling, each answer's exchange is in the other instance's journal
    by the time the answer arrives. (One test: starting the instances is most of its cost.)"""
    env = {"ALIEN_TEST_MODE": "1", "ALIEN_FIXTURES": str(EXAMPLE)}
    pair = a, b = live_server(workers=2, **env), live_server(workers=2, **env)
    stub = {"operationId": "whoami", "times": 5, "response": {"status": 503}}
    assert call(a, "POST", "/_test/stubs", admin, stub).status_code == 201

    def whoami(i: int) -> int:
        return call(pair[i % 2], "GET", "/v1/whoami", admin).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(whoami, range(40)))
    assert statuses.count(503) == 5 and statuses.count(200) == 35
    assert [s["callsLeft"] for s in call(b, "GET", "/_test/stubs", admin).json()["items"]] == [0]

    call(a, "DELETE", "/_test/requests", admin)
    last = 0
    for i in range(10):
        server, other = (a, b) if i % 2 else (b, a)
        answer = call(server, "GET", f"/v1/deployments/dep_{i}", admin)
        assert answer.status_code == 404
        seen = call(other, "GET", f"/_test/requests?since={last}", admin).json()["items"]
        assert [e["path"] for e in seen] == [f"/v1/deployments/dep_{i}"]
        assert seen[0]["requestId"] == answer.headers["x-request-id"]
        last = seen[0]["sequence"]

    if os.environ.get("ALIEN_TEST_DB", "sqlite") != "sqlite":
        return  # namespaces need SQLite (tests/app/testmode/test_namespaces.py)
    # A namespace made through one instance is the world the other serves under that name.
    created = call(a, "POST", "/_test/ns/t1/v1/deployment-groups", admin, {"name": "in-t1"})
    assert created.status_code == 200
    for server in (a, b, a, b):
        listed = call(server, "GET", "/_test/ns/t1/v1/deployment-groups", admin).json()["items"]
        assert "in-t1" in {g["name"] for g in listed}
        assert call(server, "GET", "/_test/ns/t2/v1/deployment-groups/x", admin).status_code == 404


def test_after_many_advances_reset_and_restart_still_work(live_server, admin):
    env = {"ALIEN_TEST_MODE": "1", "ALIEN_FIXTURES": str(EXAMPLE)}
    server = live_server(workers=1, **env)
    statuses = [
        call(server, "POST", "/_test/clock", admin, {"advanceSeconds": 315360000}).status_code
        for _ in range(12)
    ]
    assert statuses == [200] * 10 + [400] * 2
    assert call(server, "GET", "/v1/whoami", admin).status_code == 200
    server.stop()
    again = live_server(workers=1, **env)  # the same database, the clock 100 years ahead
    assert call(again, "GET", "/v1/whoami", admin).status_code == 200
    assert call(again, "POST", "/_test/reset", admin).status_code == 200
    assert abs(call(again, "GET", "/_test/clock", admin).json()["offsetSeconds"]) < 60
