"""`GET /metrics` in Prometheus text format (docs/behaviour.md §12).

Requests are counted by operationId, method and status, and timed by operationId, in the
outermost middleware, so error responses count with their final status. Under gunicorn every
worker writes its own files in the server's metrics directory (app/serving/multiproc.py) and a
scrape, answered by any one worker, sums them all. State is read from the database at scrape time:
deployments by status and platform, sync leases held and stale; a database that does not answer
within a second makes the scrape a 503. PostgreSQL's pool reports the
connections each worker has checked out, summed over the live workers.

Unauthenticated by default, like most exporters: it reveals counts, never ids, names or
tokens. With `ALIEN_METRICS_TOKEN` set it answers only `Authorization: Bearer <that token>`.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from connexion.exceptions import OAuthProblem
from flask import Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import Scope

from app.http.error_responses import alien_body
from app.serving import metric_files
from app.serving.probe import BoundedCheck, TimedOut
from app.settings import Settings
from models import clock, sync
from models.db import db
from models.deployments import Deployment

#: The label of requests no operation of the spec answers (/metrics, /ui, unknown paths).
NO_OPERATION = "none"

log = logging.getLogger("alien")
metric_files.install()


_lost_once = threading.Event()  # a process-wide fact: a metric update was lost


def _counted(record: Callable[[], None]) -> None:
    """Run one metric update; on a full disk (a value's file cannot grow: ENOSPC) the update is
    lost, the request is not, and the first loss is logged. Values whose place in the files
    exists keep counting."""
    try:
        record()
    except OSError as exc:
        if not _lost_once.is_set():
            _lost_once.set()
            log.warning("metrics: a value could not be written (%s); new series go uncounted", exc)


class Metrics:
    """This app's instruments, registered on its own registry (so several apps in one process,
    as in tests, never share counts)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "alien_http_requests", "HTTP requests answered",
            ["operation_id", "method", "status"], registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "alien_http_request_duration_seconds", "Time to answer a request",
            ["operation_id"], registry=self.registry,
        )  # fmt: skip
        self.pool_in_use = Gauge(
            "alien_db_pool_connections_in_use",
            "PostgreSQL connections checked out of the workers' pools",
            registry=self.registry, multiprocess_mode="livesum",
        )  # fmt: skip
        self.telemetry = Counter(
            "alien_telemetry_received", "OTLP items received (log records, spans, data points)",
            ["signal", "outcome"], registry=self.registry,
        )  # fmt: skip
        self.state = StateCollector(settings.lock_ttl_seconds)
        self.registry.register(self.state)
        # The page, database state included, within a second (app/serving/probe.py).
        self.scrape = BoundedCheck(lambda: generate_latest(self.scrape_registry()))

    def scrape_registry(self) -> CollectorRegistry:
        """Multiprocess: a fresh registry summing every worker's files, plus the state read
        now. Single process (no gunicorn): this app's own registry."""
        if self.settings.metrics_dir is None:
            return self.registry
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
            registry, path=str(self.settings.metrics_dir)
        )
        registry.register(self.state)
        return registry

    def serve(self) -> Response:
        """The `/metrics` route."""
        expected = self.settings.metrics_token
        if expected is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
                raise OAuthProblem(detail="Authentication required")
        try:
            page = self.scrape()
        except TimedOut:  # a silent network: say so within a second (app/serving/probe.py)
            body = alien_body("SERVICE_UNAVAILABLE", "The database does not answer")
            return Response(json.dumps(body), status=503, mimetype="application/json")
        return Response(page, mimetype=CONTENT_TYPE_LATEST)

    def pool_changed(self, in_use: int) -> None:
        """models.db calls this as its pool hands out or takes back a connection."""
        _counted(lambda: self.pool_in_use.set(in_use))

    def telemetry_received(self, signal: str, outcome: str, items: int) -> None:
        """app/http/telemetry.py calls this for every export request it accepted."""
        _counted(lambda: self.telemetry.labels(signal, outcome).inc(items))

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """Count and time one answered request (app/http/request_log.py calls it). The
        operationId is read back from the scope's `extensions`, which Connexion's routing fills
        in a copy of the scope that shares that one dict."""
        routing: dict[str, Any] = scope.get("extensions", {}).get("connexion_routing", {})
        operation_id = routing.get("operation_id") or NO_OPERATION
        _counted(lambda: self.requests.labels(operation_id, scope["method"], str(status)).inc())
        _counted(lambda: self.latency.labels(operation_id).observe(seconds))


class StateCollector(Collector):
    """Deployments and leases as the database has them at scrape time."""

    def __init__(self, lock_ttl_seconds: int) -> None:
        self.ttl_seconds = lock_ttl_seconds

    def collect(self) -> Iterator[GaugeMetricFamily]:
        deployments = GaugeMetricFamily(
            "alien_deployments", "Deployments by status and platform",
            labels=["status", "platform"],
        )  # fmt: skip
        leases = GaugeMetricFamily(
            "alien_sync_leases", "Sync leases on deployments: held (live) or stale",
            labels=["state"],
        )  # fmt: skip
        with db.connection_context():
            for status, platform, count in Deployment.counts_by_status_and_platform():
                deployments.add_metric([status, platform], count)
            held, stale = sync.lease_counts(clock.now(), self.ttl_seconds)
        leases.add_metric(["held"], held)
        leases.add_metric(["stale"], stale)
        yield deployments
        yield leases

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # no query at registration
