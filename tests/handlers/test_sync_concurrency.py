"""Leases under real concurrency and after crashes (docs/behaviour.md §7, §7.1).

One holder per deployment: 8 worker threads drive 50 deployments through a real two-worker
gunicorn server while releases keep arriving. Leases expire: a worker that dies holding
deployments blocks them only until the TTL.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest

from app.settings import Settings
from models import clock, lifecycle, sync
from models.db import db
from models.deployments import Deployment
from models.tokens import ADMIN, Caller
from tests.helpers import acquire, post, stack

WORKERS, DEPLOYMENTS, LIMIT = 8, 50, 3
RELEASES = 6  # created while the workers run, one every RELEASE_EVERY seconds
RELEASE_EVERY = 0.4
HANG_GUARD = 120.0  # seconds: only stops a broken run from hanging; never a pass criterion


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, db_max_connections=WORKERS + 4)


class Ledger:
    """What the workers observed. `holding` is who holds what according to the acquire
    responses: a worker enters a deployment after acquire returns it and leaves it before it
    sends release, so two entries at once mean the server handed one deployment out twice."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.holding: dict[str, str] = {}
        self.overlaps: list[tuple[str, str, str]] = []
        self.acquired: Counter[str] = Counter()
        self.by_session: Counter[str] = Counter()
        self.problems: list[str] = []

    def enter(self, session: str, ids: list[str]) -> None:
        with self.lock:
            for deployment_id in ids:
                if deployment_id in self.holding:
                    self.overlaps.append((deployment_id, self.holding[deployment_id], session))
                self.holding[deployment_id] = session
                self.acquired[deployment_id] += 1
                self.by_session[session] += 1

    def leave(self, ids: list[str]) -> None:
        with self.lock:
            for deployment_id in ids:
                self.holding.pop(deployment_id, None)


def next_state(record: dict[str, Any], stacks: dict[str, Any]) -> dict[str, Any]:
    """One step of a toy deployment engine: pending → initial-setup → provisioning → running,
    update-pending → updating → running (the desired release becomes current)."""
    step = {
        "pending": "initial-setup",
        "initial-setup": "provisioning",
        "provisioning": "running",
        "update-pending": "updating",
        "updating": "running",
    }[record["status"]]
    release_id = record["desired_release_id"] if step == "running" else None
    release_id = release_id or record["current_release_id"]
    state: dict[str, Any] = {"status": step, "platform": record["platform"]}
    if release_id is not None:
        state["currentRelease"] = {"releaseId": release_id, "stack": stacks[release_id]}
    return state


def locked_by_in_db(ids: list[str]) -> set[str | None]:
    with db.connection_context():
        rows = Deployment.select(Deployment.locked_by).where(Deployment.id.in_(ids))
        return {row.locked_by for row in rows}


def work(
    url: str,
    headers: dict[str, str],
    session: str,
    ledger: Ledger,
    stacks: dict[str, Any],
    stop: threading.Event,
) -> None:
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        while not stop.is_set():
            response = http.post("/v1/sync/acquire", json={"session": session, "limit": LIMIT})
            records = [item["deployment"] for item in response.json()["deployments"]]
            if not records:
                time.sleep(0.01)
                continue
            ids = [record["id"] for record in records]
            ledger.enter(session, ids)
            try:
                if {r["locked_by"] for r in records} != {session}:
                    ledger.problems.append(f"{session} got records locked by others: {records}")
                if locked_by_in_db(ids) != {session}:  # nobody can take them while we hold them
                    ledger.problems.append(f"{session}'s leases are not its own in the database")
                for record in records:
                    body = {
                        "deploymentId": record["id"],
                        "session": session,
                        "state": next_state(record, stacks),
                        "updateHeartbeat": True,
                    }
                    reply = http.post("/v1/sync/reconcile", json=body)
                    if reply.status_code != 200:
                        ledger.problems.append(f"reconcile {reply.status_code}: {reply.text}")
            finally:
                ledger.leave(ids)
                for deployment_id in ids:
                    body = {"deploymentId": deployment_id, "session": session}
                    if http.post("/v1/sync/release", json=body).status_code != 200:
                        ledger.problems.append(f"release of {deployment_id} failed")


def test_no_deployment_is_ever_held_twice_and_none_starves(api, admin, live_server):
    group = api.group_token(api.group("fleet"))
    stacks = {api.release(aws=stack("v0")): stack("v0")}
    ids = [api.deployment(group, f"d{n:02}", "aws")[0] for n in range(DEPLOYMENTS)]
    server = live_server(workers=2)

    ledger, stop, errors = Ledger(), threading.Event(), []

    def run(n: int) -> None:
        try:
            work(server.url, group, f"worker-{n}", ledger, stacks, stop)
        except Exception as exc:  # surfaced below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    try:
        for n in range(1, RELEASES + 1):  # releases keep arriving while the fleet is busy
            time.sleep(RELEASE_EVERY)
            stacks[api.release(aws=stack(f"v{n}"))] = stack(f"v{n}")
        final = list(stacks)[-1]
        deadline = time.monotonic() + HANG_GUARD
        while not converged(ids, final) and time.monotonic() < deadline and not errors:
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    acquisitions = sum(ledger.acquired.values())
    print(
        f"\n{acquisitions} acquisitions by {len(ledger.by_session)} sessions "
        f"(per session: {sorted(ledger.by_session.values())}), "
        f"per deployment min/max {min(ledger.acquired.values(), default=0)}/"
        f"{max(ledger.acquired.values(), default=0)}, overlaps {len(ledger.overlaps)}, "
        f"problems {len(ledger.problems)}"
    )
    assert errors == []
    assert ledger.overlaps == []
    assert ledger.problems == []
    assert set(ledger.acquired) == set(ids)  # nobody starved
    assert converged(ids, final)  # every deployment ended on the last release, nothing held


def converged(ids: list[str], final: str) -> bool:
    with db.connection_context():
        rows = list(Deployment.select().where(Deployment.id.in_(ids)))
    return len(rows) == len(ids) and all(
        (r.status, r.current_release_id, r.desired_release_id, r.locked_by)
        == ("running", final, None, None)
        for r in rows
    )


def test_a_release_committing_during_a_reconcile_is_not_lost(api, admin, client, monkeypatch):
    """Model level, two connections: release B is inserted and propagated (the deployment is
    still `updating`, so §6 leaves it alone) but not yet committed when a worker reports
    `running` on A. The reconcile must not miss B: it waits for the release to commit."""
    a = api.release(aws=stack("a"))
    deployment_id, _ = api.deployment(api.group_token(api.group()), "d", "aws")
    post(
        client,
        "/v1/sync/reconcile",
        admin,
        deploymentId=deployment_id,
        session="w",
        state={"status": "updating", "platform": "aws"},
    )

    propagated, commit = threading.Event(), threading.Event()
    original = lifecycle.propagate

    def propagate_then_pause(release_id: str, platform: str) -> None:
        original(release_id, platform)
        propagated.set()
        commit.wait()

    monkeypatch.setattr(lifecycle, "propagate", propagate_then_pause)
    running = {
        "status": "running",
        "platform": "aws",
        "currentRelease": {"releaseId": a, "stack": stack("a")},
    }

    def create_b() -> None:
        with db.connection_context():
            lifecycle.create_release({"aws": stack("b")}, None)

    def report_running() -> None:
        with db.connection_context():
            sync.reconcile(
                Caller(ADMIN, "t"), deployment_id, "w", running, heartbeat=False, ttl_seconds=300
            )

    creator = threading.Thread(target=create_b)
    creator.start()
    assert propagated.wait(HANG_GUARD)
    reporter = threading.Thread(target=report_running)
    reporter.start()
    reporter.join(2.0)  # a correct server is still waiting here; a racy one has finished
    commit.set()
    creator.join()
    reporter.join()
    shown = api.get(f"/v1/deployments/{deployment_id}")
    assert (shown["status"], shown["currentReleaseId"]) == ("update-pending", a)
    assert shown["desiredReleaseId"] != a


# -- crash recovery -----------------------------------------------------------------------------


@pytest.fixture
def three(api: Any) -> list[str]:
    group = api.group_token(api.group())
    return [api.deployment(group, f"d{n}", "aws")[0] for n in range(3)]


def reconcile_status(
    client: Any, headers: dict[str, str], deployment_id: str, session: str, heartbeat: bool = False
) -> int:
    body = {
        "deploymentId": deployment_id,
        "session": session,
        "updateHeartbeat": heartbeat,
        "state": {"status": "provisioning", "platform": "aws"},
    }
    return int(client.post("/v1/sync/reconcile", json=body, headers=headers).status_code)


def test_a_crashed_workers_leases_are_taken_over_after_the_ttl(client, admin, settings, three):
    assert [r["id"] for r in acquire(client, admin, "crashed")] == three  # ...then it dies
    assert acquire(client, admin, "survivor") == []

    clock.advance(settings.lock_ttl_seconds - 30)  # margins wide enough for a slow machine
    assert acquire(client, admin, "survivor") == []  # not yet stale

    clock.advance(60)
    taken = acquire(client, admin, "survivor")
    assert [r["id"] for r in taken] == three
    assert {r["locked_by"] for r in taken} == {"survivor"}

    # The crashed worker comes back: too late, its reports are refused...
    assert reconcile_status(client, admin, three[0], "crashed") == 409
    # ...and its release does not free what the survivor now holds.
    post(client, "/v1/sync/release", admin, deploymentId=three[0], session="crashed")
    assert acquire(client, admin, "third") == []


def test_the_same_session_reacquires_and_refreshes_its_lease(client, admin, settings, three):
    [first, *_] = acquire(client, admin, "w")
    clock.advance(settings.lock_ttl_seconds - 10)
    [again, *_] = acquire(client, admin, "w")
    assert again["id"] == first["id"] and again["locked_at"] > first["locked_at"]
    clock.advance(20)  # stale by the first lease, live by the refreshed one
    assert acquire(client, admin, "other") == []


@pytest.mark.parametrize("heartbeat, kept", [(True, True), (False, False)])
def test_a_heartbeat_keeps_the_lease_alive(client, admin, settings, three, heartbeat, kept):
    acquire(client, admin, "w", deploymentIds=three[:1])
    clock.advance(settings.lock_ttl_seconds - 10)
    assert reconcile_status(client, admin, three[0], "w", heartbeat) == 200
    clock.advance(20)
    taken = acquire(client, admin, "other", deploymentIds=three[:1])
    assert (taken == []) is kept


def test_lease_ttl_on_a_live_server(api, admin, live_server, three):
    """ALIEN_LOCK_TTL_SECONDS on a real server: every takeover happens only after the TTL,
    judged by the server's own lease timestamps (so a slow machine cannot make it flaky)."""
    ttl = 1
    server = live_server(workers=2, ALIEN_LOCK_TTL_SECONDS=str(ttl))
    with httpx.Client(base_url=server.url, headers=admin, timeout=30) as http:
        held = {r["id"]: r for r in acquire(http, admin, "crashed")}
        assert set(held) == set(three)
        taken: dict[str, Any] = {}
        deadline = time.monotonic() + HANG_GUARD
        while len(taken) < len(three) and time.monotonic() < deadline:
            taken |= {r["id"]: r for r in acquire(http, admin, "survivor")}
            time.sleep(0.2)
        assert set(taken) == set(three)
        for deployment_id, record in taken.items():
            age = at(record["locked_at"]) - at(held[deployment_id]["locked_at"])
            assert age.total_seconds() >= ttl
        assert reconcile_status(http, admin, three[0], "crashed") == 409


def at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
