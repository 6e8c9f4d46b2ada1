"""GET /metrics: Prometheus text, summed over every gunicorn worker (app/serving/metrics.py).

The live tests scrape real multi-worker servers; the in-process ones check what is read from
the database at scrape time and the optional token.
"""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.factory import create_app
from harness.server import LiveServer
from models import clock
from models.db import db, is_postgres
from tests.helpers import ContractClient, bearer

ACCESS_LINE = re.compile(r" INFO alien\.access (\d+) GET /v1/whoami (\d{3}) ")


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape, keyed by name and labels (parsed by prometheus-client)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(scraped: dict[Any, float], name: str, **labels: str) -> float:
    return scraped.get((name, frozenset(labels.items())), 0.0)


def whoami_count(scraped: dict[Any, float], status: int) -> float:
    labels = {"operation_id": "whoami", "method": "GET", "status": str(status)}
    return value(scraped, "alien_http_requests_total", **labels)


def whoami_requests(url: str, headers: dict[str, str], count: int) -> list[int]:
    """`count` requests, each on a connection of its own, from 8 threads at once: the kernel
    hands the connections to both workers."""

    def one(_: int) -> int:
        with httpx.Client(base_url=url, timeout=30) as fresh:
            return fresh.get("/v1/whoami", headers=headers).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def scrape(url: str) -> dict[Any, float]:
    response = httpx.get(url + "/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


@pytest.mark.slow
def test_one_scrape_sums_every_worker_and_a_dead_workers_counts_stay(live_server, admin):
    server = live_server(workers=2, ALIEN_LOG_LEVEL="INFO")
    ok, unauthorised = 60, 7
    assert whoami_requests(server.url, admin, ok) == [200] * ok
    assert whoami_requests(server.url, {}, unauthorised) == [401] * unauthorised

    pids = {pid for pid, _ in ACCESS_LINE.findall(server.log())}
    assert len(pids) == 2, f"all requests went to one worker: {pids}"

    scraped = scrape(server.url)
    assert whoami_count(scraped, 200) == ok
    assert whoami_count(scraped, 401) == unauthorised
    latency = "alien_http_request_duration_seconds_count"
    assert value(scraped, latency, operation_id="whoami") == ok + unauthorised
    bucket = "alien_http_request_duration_seconds_bucket"
    assert value(scraped, bucket, operation_id="whoami", le="+Inf") == ok + unauthorised

    # A worker killed outright is replaced; what it counted still counts (child_exit hook).
    os.kill(int(min(pids)), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while server.log().count("Application startup complete") < 3:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.2)
    assert whoami_requests(server.url, admin, 5) == [200] * 5
    after = scrape(server.url)
    assert whoami_count(after, 200) == ok + 5


def dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        pid -= 1


@pytest.mark.slow
def test_every_server_start_counts_from_zero(database_url, settings, tmp_path):
    state_dir = tmp_path / "state-shared"
    leftover = state_dir / f"metrics-{dead_pid()}"  # what a server that crashed leaves
    leftover.mkdir(parents=True)
    (leftover / "counter_1.db").write_bytes(b"stale")
    env = {"ALIEN_ADMIN_TOKEN": settings.admin_token}

    with LiveServer(database_url, state_dir, workers=1, env=env) as first:
        assert not leftover.exists()
        assert whoami_requests(first.url, bearer(settings.admin_token), 3) == [200] * 3
        assert len(list(state_dir.glob("metrics-*"))) == 1
    assert not list(state_dir.glob("metrics-*")), "the stopped server left its directory"

    with LiveServer(database_url, state_dir, workers=1, env=env) as again:
        scraped = scrape(again.url)
    assert whoami_count(scraped, 200) == 0
    health = {"operation_id": "health", "method": "GET", "status": "200"}
    assert value(scraped, "alien_http_requests_total", **health) >= 1  # this start's own


def test_requests_count_by_operation_method_and_final_status(client, admin):
    client.get("/nope")
    client.get("/v1/whoami", headers=admin)
    client.head("/v1/whoami", headers=admin)
    scraped = samples(client.get("/metrics").text)
    requests = "alien_http_requests_total"
    assert value(scraped, requests, operation_id="none", method="GET", status="404") == 1
    assert value(scraped, requests, operation_id="whoami", method="GET", status="200") == 1
    assert value(scraped, requests, operation_id="whoami", method="HEAD", status="200") == 1


def test_deployments_and_leases_are_read_at_scrape_time(client, api, world, settings):
    api.deployment(world.group, "second", platform="gcp")
    scraped = samples(client.get("/metrics").text)
    assert value(scraped, "alien_deployments", status="pending", platform="aws") == 2
    assert value(scraped, "alien_deployments", status="pending", platform="gcp") == 1
    assert value(scraped, "alien_sync_leases", state="held") == 0

    leased = client.post(
        "/v1/sync/acquire", json={"session": "w1", "platforms": ["gcp"]}, headers=world.admin
    )
    assert leased.status_code == 200 and len(leased.json()["deployments"]) == 1
    scraped = samples(client.get("/metrics").text)
    assert value(scraped, "alien_sync_leases", state="held") == 1
    assert value(scraped, "alien_sync_leases", state="stale") == 0

    clock.advance(settings.lock_ttl_seconds + 1)
    scraped = samples(client.get("/metrics").text)
    assert value(scraped, "alien_sync_leases", state="held") == 0
    assert value(scraped, "alien_sync_leases", state="stale") == 1


def test_pool_in_use_counts_checked_out_connections(client):
    if not is_postgres():
        pytest.skip("SQLite has no connection pool")
    with db.connection_context():  # this thread holds one of the pool's connections
        held = samples(client.get("/metrics").text)
    idle = samples(client.get("/metrics").text)
    assert value(held, "alien_db_pool_connections_in_use") >= 1
    assert value(idle, "alien_db_pool_connections_in_use") == 0


@pytest.fixture
def protected(settings):
    with ContractClient(create_app(replace(settings, metrics_token="scrape-secret"))) as client:
        yield client


@pytest.mark.parametrize(
    "headers, status",
    [
        ({}, 401),
        (bearer("wrong"), 401),
        ({"Authorization": "scrape-secret"}, 401),
        (bearer("scrape-secret"), 200),
    ],
)
def test_metrics_token_when_set(protected, headers, status):
    response = protected.get("/metrics", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "UNAUTHORIZED"
        assert "scrape-secret" not in response.text
    else:
        assert "alien_http_requests_total" in response.text
