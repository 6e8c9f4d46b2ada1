"""Two server instances on one PostgreSQL schema behave as one service.

Each instance is its own gunicorn process (2 workers) on its own port, as two machines would
run them; only the database is shared. The races are real: threads released together by a
barrier, spread over both instances.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest

from harness import pg
from harness.server import LiveServer
from tests.helpers import bearer

pytestmark = [pg.only(), pytest.mark.postgres, pytest.mark.slow]

TIMEOUT = 60  # per request: bounds a wedged server, never asserted on


def call(
    server: LiveServer,
    method: str,
    path: str,
    headers: dict[str, str],
    body: Any = None,
) -> httpx.Response:
    return httpx.request(method, server.url + path, json=body, headers=headers, timeout=TIMEOUT)


def race(tasks: list[Callable[[], Any]], threads: int = 20) -> list[Any]:
    """Run the tasks on `threads` threads, released in waves by a barrier; results in order."""
    n = len(tasks)
    threads = min(threads, n)
    barrier = threading.Barrier(threads)

    def run(i: int) -> Any:
        if i < n - n % threads:  # the last partial wave (if any) just runs
            barrier.wait(timeout=TIMEOUT)
        return tasks[i]()

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(run, range(n)))


def new_group(server: LiveServer, admin: dict[str, str], max_deployments: int) -> str:
    body = {"name": "shared", "maxDeployments": max_deployments}
    response = call(server, "POST", "/v1/deployment-groups", admin, body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def group_token(server: LiveServer, admin: dict[str, str], group_id: str) -> dict[str, str]:
    response = call(server, "POST", f"/v1/deployment-groups/{group_id}/tokens", admin)
    assert response.status_code == 200, response.text
    return bearer(response.json()["token"])


def stored(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with pg.connect(database_url) as conn:
        rows: list[tuple[Any, ...]] = conn.execute(sql, params).fetchall()
        return rows


@pytest.fixture
def two(live_server: Callable[..., LiveServer]) -> tuple[LiveServer, LiveServer]:
    return live_server(workers=2), live_server(workers=2)


def test_concurrent_creates_over_both_instances_never_overfill_a_group(two, admin, database_url):
    a, b = two
    group_id = new_group(a, admin, max_deployments=5)
    dg = group_token(b, admin, group_id)

    def create(i: int) -> httpx.Response:
        if i % 4 < 2:  # half through the group's token, half as admin naming the group
            body = {"name": f"d{i}", "platform": "aws"}
            return call((a, b)[i % 2], "POST", "/v1/deployments", dg, body)
        body = {"name": f"d{i}", "platform": "aws", "deploymentGroupId": group_id}
        return call((a, b)[i % 2], "POST", "/v1/deployments", admin, body)

    responses = race([partial(create, i) for i in range(40)])

    assert Counter(r.status_code for r in responses) == {201: 5, 400: 35}
    refused = {r.json()["code"] for r in responses if r.status_code == 400}
    assert refused == {"MAX_DEPLOYMENTS_REACHED"}
    accepted = {r.json()["deployment"]["id"] for r in responses if r.status_code == 201}
    for server in (a, b):
        group = call(server, "GET", f"/v1/deployment-groups/{group_id}", admin).json()
        assert group["deploymentCount"] == 5
        listed = call(server, "GET", f"/v1/deployments?deploymentGroupId={group_id}", admin)
        assert {d["id"] for d in listed.json()["items"]} == accepted
    rows = stored(
        database_url,
        "SELECT g.deployment_count, count(d.id) FROM deployment_group g"
        " LEFT JOIN deployment d ON d.deployment_group_id = g.id WHERE g.id = %s"
        " GROUP BY g.deployment_count",
        group_id,
    )
    assert rows == [(5, 5)]


def test_removals_and_creates_racing_over_both_instances_keep_the_count_exact(
    two, admin, database_url
):
    a, b = two
    group_id = new_group(a, admin, max_deployments=5)
    body = {"name": "x", "platform": "aws", "deploymentGroupId": group_id}
    first = [call(a, "POST", "/v1/deployments", admin, body) for _ in range(5)]
    doomed = [r.json()["deployment"]["id"] for r in first[:3]]

    def churn(i: int) -> httpx.Response:
        server = (a, b)[i % 2]
        if i < 6:  # three deployments, each removed twice at once: only one removal counts
            return call(server, "DELETE", f"/v1/deployments/{doomed[i // 2]}?force=true", admin)
        return call(server, "POST", "/v1/deployments", admin, body)

    responses = race([partial(churn, i) for i in range(16)], threads=16)

    for pair in (responses[0:2], responses[2:4], responses[4:6]):  # the loser may find it gone
        assert sorted(r.status_code for r in pair) in ([202, 202], [202, 404])
    created = sum(r.status_code == 201 for r in responses[6:])
    assert created <= 3 and all(r.status_code in (201, 400) for r in responses[6:])
    count, rows = stored(
        database_url,
        "SELECT g.deployment_count, (SELECT count(*) FROM deployment d"
        " WHERE d.deployment_group_id = g.id) FROM deployment_group g WHERE g.id = %s",
        group_id,
    )[0]
    assert count == rows == 2 + created
    for server in (a, b):
        group = call(server, "GET", f"/v1/deployment-groups/{group_id}", admin).json()
        assert group["deploymentCount"] == rows


def test_writes_on_one_instance_are_visible_on_the_other_at_once(two, admin):
    a, b = two
    group_id = new_group(a, admin, max_deployments=100)
    dg = group_token(a, admin, group_id)
    for i in range(10):
        here, there = (a, b) if i % 2 == 0 else (b, a)
        created = call(here, "POST", "/v1/deployments", dg, {"name": f"v{i}", "platform": "gcp"})
        assert created.status_code == 201, created.text
        deployment, token = created.json()["deployment"], bearer(created.json()["token"])

        seen = call(there, "GET", f"/v1/deployments/{deployment['id']}", admin)
        assert seen.status_code == 200 and seen.json() == deployment
        group = call(there, "GET", f"/v1/deployment-groups/{group_id}", admin).json()
        assert group["deploymentCount"] == i + 1
        whoami = call(there, "GET", "/v1/whoami", token)  # the token minted on `here`
        assert whoami.status_code == 200
        assert whoami.json()["scope"] == {"type": "deployment", "deploymentId": deployment["id"]}


def acquire(server: LiveServer, headers: dict[str, str], session: str, **body: Any) -> list[Any]:
    response = call(server, "POST", "/v1/sync/acquire", headers, {"session": session, **body})
    assert response.status_code == 200, response.text
    return [entry["deployment"] for entry in response.json()["deployments"]]


def release(server: LiveServer, headers: dict[str, str], session: str, deployment_id: str) -> None:
    body = {"deploymentId": deployment_id, "session": session}
    response = call(server, "POST", "/v1/sync/release", headers, body)
    assert response.status_code == 200, response.text


def locks(database_url: str, group_id: str) -> dict[str, str | None]:
    rows = stored(
        database_url,
        "SELECT id, locked_by FROM deployment WHERE deployment_group_id = %s",
        group_id,
    )
    return dict(rows)


def test_concurrent_acquirers_over_both_instances_never_hold_the_same_deployment(
    two, admin, database_url
):
    a, b = two
    group_id = new_group(a, admin, max_deployments=100)
    dg = group_token(b, admin, group_id)
    body = {"name": "w", "platform": "aws", "deploymentGroupId": group_id}
    created = [call((a, b)[i % 2], "POST", "/v1/deployments", admin, body) for i in range(24)]
    ids = {r.json()["deployment"]["id"] for r in created}

    for round_ in range(3):  # 8 sessions x limit 4 = 32 wanted, 24 there
        sessions = [f"r{round_}-s{i}" for i in range(8)]
        grabs: list[Callable[[], Any]] = [
            partial(acquire, (a, b)[i % 2], admin if i % 2 else dg, session, limit=4)
            for i, session in enumerate(sessions)
        ]
        held = dict(zip(sessions, race(grabs), strict=True))

        handed_out = [d["id"] for got in held.values() for d in got]
        assert len(handed_out) == len(set(handed_out)), "a deployment went to two sessions"
        assert set(handed_out) <= ids
        for session, got in held.items():
            assert all(d["locked_by"] == session for d in got)
        expected = {d["id"]: session for session, got in held.items() for d in got}
        assert locks(database_url, group_id) == {i: expected.get(i) for i in ids}
        assert len(handed_out) == len(ids)  # SKIP LOCKED passes over, never comes back short
        # Nothing is left for a latecomer while every lease is live, whichever instance it asks.
        assert acquire(a, admin, f"r{round_}-late") == []
        assert acquire(b, admin, f"r{round_}-late") == []

        for i, (session, got) in enumerate(held.items()):
            for deployment in got:
                release((b, a)[i % 2], admin, session, deployment["id"])
        assert set(locks(database_url, group_id).values()) == {None}


def test_many_acquirers_racing_for_one_deployment_over_both_instances_one_wins(
    two, admin, database_url
):
    a, b = two
    group_id = new_group(a, admin, max_deployments=100)
    body = {"name": "hot", "platform": "aws", "deploymentGroupId": group_id}
    for round_ in range(5):
        target = call(a, "POST", "/v1/deployments", admin, body).json()["deployment"]["id"]
        sessions = [f"hot{round_}-s{i}" for i in range(10)]
        results = race(
            [
                partial(acquire, (a, b)[i % 2], admin, session, deploymentIds=[target])
                for i, session in enumerate(sessions)
            ]
        )
        winners = [s for s, got in zip(sessions, results, strict=True) if got]
        assert len(winners) == 1
        assert locks(database_url, group_id)[target] == winners[0]


def parse_raw_time(value: str) -> datetime:
    assert value.endswith("Z")
    return datetime.fromisoformat(value)


def test_a_lease_taken_on_one_instance_expires_by_the_same_clock_on_the_other(
    live_server, admin, database_url
):
    """The clock decision (README "Scaling out"): lease stamps come from the application clock
    of the instance that writes them and are judged by the clock of the instance that reads
    them, so instances must agree on the time (NTP) to well within the TTL. Here both run on
    this machine: a stamp written by A is read by B as the same instant, with B's TTL."""
    a = live_server(workers=2, ALIEN_LOCK_TTL_SECONDS="3600")
    b = live_server(workers=2, ALIEN_LOCK_TTL_SECONDS="1")
    group_id = new_group(a, admin, max_deployments=10)
    body = {"name": "leased", "platform": "aws", "deploymentGroupId": group_id}
    target = call(a, "POST", "/v1/deployments", admin, body).json()["deployment"]["id"]

    before = datetime.now(UTC)
    [first] = acquire(a, admin, "s1", deploymentIds=[target])
    after = datetime.now(UTC)
    locked_at = parse_raw_time(first["locked_at"])
    assert before - timedelta(microseconds=1) <= locked_at <= after
    stamp = stored(database_url, "SELECT locked_at FROM deployment WHERE id = %s", target)
    assert stamp == [(round(locked_at.timestamp() * 1_000_000),)]

    assert acquire(a, admin, "s2", deploymentIds=[target]) == []  # live by A's one-hour TTL
    while datetime.now(UTC) <= locked_at + timedelta(seconds=1.5):
        time.sleep(0.1)  # past B's one-second TTL by this machine's (= both servers') clock
    [taken] = acquire(b, admin, "s2", deploymentIds=[target])
    assert taken["locked_by"] == "s2"
    assert parse_raw_time(taken["locked_at"]) > locked_at + timedelta(seconds=1)
    assert acquire(a, admin, "s1", deploymentIds=[target]) == []  # s2's lease is live on A
