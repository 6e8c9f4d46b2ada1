"""`make bench BENCH_ARGS=--scale`: do list pages and acquire stay flat as a group grows?

For each database (SQLite; PostgreSQL when the test server answers) the run seeds, straight
through the models, a group of 1k deployments and a group of 100k, the oldest LEASED of each
leased by another session (live: the server's lease TTL is set long enough for the run). Then
it starts the real server on that database and measures over HTTP, one client, one request at
a time:

- page: `GET /v1/deployments?deploymentGroupId=..&limit=50&cursor=..` from the middle of the
  group (the cursor of the row there), the same request repeated;
- acquire: `POST /v1/sync/acquire` with the group's token and a fresh session every time,
  `limit` 10; its deployments are released after each one (not timed), so every acquire finds
  the same pool.

It reports median and p90 of each, and the ratios 100k / 1k of the medians (flat: about 1).
Timings depend on the machine; the ratios are the point.
"""

from __future__ import annotations

import json
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playhouse.pool import PooledPostgresqlDatabase

from bench.servers import APP, postgres_database, serving
from models import clock
from models.db import bind_database, db, is_postgres
from models.deployments import Deployment
from models.engines import make_database
from models.groups import DeploymentGroup
from models.paging import encode_cursor
from models.schema import migrate

SIZES = (1_000, 100_000)
LEASED = 0.3  # the oldest 30% of each group, leased by another session
PAGE, ACQUIRE_LIMIT = 50, 10
REQUESTS, WARMUP = 200, 20
BATCH = 2_000  # rows per INSERT: within SQLite's 32766 parameters at 13 columns


def seed(database_url: str) -> dict[int, tuple[str, str]]:
    """The groups, as the API would have made them, with their deployments inserted in bulk.
    Returns, for each size, the group's id and the cursor of the row in the middle of its list."""
    bind_database(make_database(database_url, 2))
    groups = {}
    with db.connection_context():
        migrate()
        now = clock.now()
        start = round(now.timestamp() * 1_000_000) - 10 * sum(SIZES)  # older than now, distinct
        for size in SIZES:
            group = DeploymentGroup.create(
                id=f"dg_{uuid.uuid4()}",
                name=f"scale-{size}",
                max_deployments=size,
                deployment_count=size,
                created_at=now,
            )
            rows = [
                _deployment(group.id, i, start + i, i < size * LEASED, now) for i in range(size)
            ]
            start += size
            with db.atomic():
                for first in range(0, size, BATCH):
                    Deployment.insert_many(rows[first : first + BATCH]).execute()
            middle = rows[size // 2]  # newest first: the page after it is the second half's top
            groups[size] = (group.id, encode_cursor(middle["created_at"], middle["id"]))
        if is_postgres():
            db.execute_sql("ANALYZE")  # what autovacuum does after such an insert on its own
    if isinstance(db.obj, PooledPostgresqlDatabase):
        db.obj.close_all()  # the server's are the only connections from here on
    return groups


def _deployment(group_id: str, i: int, micros: int, leased: bool, now: Any) -> dict[str, Any]:
    """A row as models.deployments.Deployment.new writes one (admin-created: no token)."""
    return {
        "id": f"dep_{uuid.uuid4()}",
        "name": f"scale-{i}",
        "deployment_group": group_id,
        "platform": "aws",
        "status": "pending",
        "stack_settings": {},
        "desired_release_id": None,
        "user_environment_variables": None,
        "retry_requested": False,
        "locked_by": "bench-other-worker" if leased else None,
        "locked_at": now if leased else None,
        "created_at": micros,
    }


def timed(call: Callable[[int], float]) -> dict[str, float]:
    """Median and p90 of what REQUESTS calls report (ms), after WARMUP calls not counted."""
    for i in range(WARMUP):
        call(i)
    samples = [call(i) for i in range(WARMUP, WARMUP + REQUESTS)]
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p90_ms": round(statistics.quantiles(samples, n=10)[-1], 3),
    }


def measure(url: str, admin: dict[str, str], group_id: str, cursor: str) -> dict[str, Any]:
    """Both timings for one group of the live server at `url`."""
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        made = client.post(f"/v1/deployment-groups/{group_id}/tokens", headers=admin)
        group = {"Authorization": f"Bearer {made.raise_for_status().json()['token']}"}
        params: dict[str, str | int] = {
            "deploymentGroupId": group_id,
            "limit": PAGE,
            "cursor": cursor,
        }

        def page(_: int) -> float:
            began = time.perf_counter()
            r = client.get("/v1/deployments", params=params, headers=admin).raise_for_status()
            spent = time.perf_counter() - began
            assert len(r.json()["items"]) == PAGE and r.json()["nextCursor"], r.text[:300]
            return spent * 1000

        def acquire(i: int) -> float:
            session = f"bench-scale-{i}-{secrets.token_hex(4)}"
            body = {"session": session, "limit": ACQUIRE_LIMIT}
            began = time.perf_counter()
            r = client.post("/v1/sync/acquire", json=body, headers=group).raise_for_status()
            spent = time.perf_counter() - began
            leased = [d["deployment"]["id"] for d in r.json()["deployments"]]
            assert len(leased) == ACQUIRE_LIMIT, r.text[:300]
            for ident in leased:  # untimed: the next acquire finds the same pool
                release = {"deploymentId": ident, "session": session}
                client.post("/v1/sync/release", json=release, headers=group).raise_for_status()
            return spent * 1000

        return {"page": timed(page), "acquire": timed(acquire)}


def on(server: str, database_url: str, tmp: Path, workers: int) -> dict[str, Any]:
    """Seed `database_url`, serve it, measure both groups; the report's entry for `server`."""
    began = time.monotonic()
    groups = seed(database_url)
    seeded_s = time.monotonic() - began
    token = "ax_admin_" + secrets.token_hex(20)
    env = {"ALIEN_ADMIN_TOKEN": token, "ALIEN_LOCK_TTL_SECONDS": "86400"}  # leases stay live
    with serving(APP, database_url, tmp / server, workers, env) as live:
        admin = {"Authorization": f"Bearer {token}"}
        sizes = {str(size): measure(live.url, admin, *groups[size]) for size in SIZES}
    small, large = (sizes[str(size)] for size in SIZES)
    ratios = {
        name: round(large[name]["p50_ms"] / small[name]["p50_ms"], 3)
        for name in ("page", "acquire")
    }
    return {"server": server, "seed_s": round(seeded_s, 1), "sizes": sizes, "ratio_p50": ratios}


def run(databases: list[str], workers: int) -> list[dict[str, Any]]:
    """Every database's entry, printed as it comes; a database that fails is reported and the
    run goes on (`error` in its entry)."""
    print(
        f"scale: groups of {SIZES[0]} and {SIZES[1]} deployments, oldest {LEASED:.0%} leased; "
        f"{REQUESTS} requests each, one at a time",
        flush=True,
    )
    entries = []
    with tempfile.TemporaryDirectory(prefix="alien-bench-scale-") as tmp_name:
        tmp = Path(tmp_name)
        for server in databases:
            try:
                if server == "sqlite":
                    entry = on(server, f"sqlite:///{tmp / 'scale.db'}", tmp, workers)
                else:
                    with postgres_database() as url:
                        entry = on(server, url, tmp, workers)
            except Exception as exc:  # report it, carry on with the next database
                entry = {"server": server, "error": repr(exc)[:1500]}
            entries.append(entry)
            print_entry(entry)
    return entries


def print_entry(entry: dict[str, Any]) -> None:
    if "error" in entry:
        print(f"scale {entry['server']:<9} ERROR: {entry['error']}", flush=True)
        return
    for name in ("page", "acquire"):
        cells = "  ".join(
            f"{size:>6}: p50 {t[name]['p50_ms']:7.2f} ms p90 {t[name]['p90_ms']:7.2f} ms"
            for size, t in entry["sizes"].items()
        )
        ratio = entry["ratio_p50"][name]
        print(f"scale {entry['server']:<9} {name:<8} {cells}  large/small {ratio:.2f}x", flush=True)


def report(entries: list[dict[str, Any]], out: Path) -> int:
    """`--scale-only`: the entries alone as the run's JSON report; the exit status."""
    ok = not any("error" in entry for entry in entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scale": entries, "ok": ok}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if ok else 1
