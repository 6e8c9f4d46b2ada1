"""OTLP/HTTP ingestion (issue 22, item 11; docs/behaviour.md §5.5).

reference: crates/alien-manager/src/routes/mod.rs:65-67 (the three routes, beside the API),
routes/telemetry.rs:58-84 (any valid token; a deployment token or an admin; a deployment group
token is 403 "Telemetry ingestion requires a deployment token"; `{"accepted":true}`) and
providers/otlp_forwarding.rs:27-44 (the body is POSTed to `<OTLP_ENDPOINT>/v1/<signal>`). The
forwarding tests run a real OTLP/HTTP receiver: a small HTTP server in this test that keeps
what it is sent and answers as a collector does.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.testclient import TestClient

from app.factory import create_app
from harness.server import free_port
from tests.helpers import assert_error

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def logs(count: int) -> bytes:
    records = [LogRecord(body=AnyValue(string_value=f"line {i}")) for i in range(count)]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(log_records=records)])]
    )
    return bytes(request.SerializeToString())


def spans(count: int) -> ExportTraceServiceRequest:
    found = [Span(trace_id=bytes(16), span_id=bytes(8), name=f"s{i}") for i in range(count)]
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=found)])]
    )


def metrics(points: int) -> bytes:
    gauge = Gauge(data_points=[NumberDataPoint(as_int=i) for i in range(points)])
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=[Metric(name="m", gauge=gauge)])])
        ]
    )
    return bytes(request.SerializeToString())


def received(client: TestClient, signal: str, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("alien_telemetry_received_total{") and (
            f'signal="{signal}"' in line and f'outcome="{outcome}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture
def raw(app: Any) -> TestClient:
    """These paths are outside the spec: a plain client, not the spec-checking one."""
    return TestClient(app)


def test_a_deployment_token_sends_protobuf_logs(raw, world):
    response = raw.post("/v1/logs", content=logs(3), headers=world.deployment | PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.content == b'{"accepted":true}'
    assert received(raw, "logs", "dropped") == 3


def test_otlp_json_is_read_too(raw, world):
    body = json_format.MessageToJson(spans(2))
    response = raw.post(
        "/v1/traces",
        content=body.encode(),
        headers=world.deployment | {"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": True}
    assert received(raw, "traces", "dropped") == 2


def test_otlp_json_as_exporters_write_it(raw, world):
    """OTLP/JSON writes trace and span ids in hex (the OTLP specification's JSON encoding)."""
    body = (
        b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
        b'{"stringValue":"api"}}]},"scopeSpans":[{"scope":{"name":"t"},"spans":[{"traceId":'
        b'"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174","name":"GET /",'
        b'"kind":2,"startTimeUnixNano":"1544712660000000000","endTimeUnixNano":'
        b'"1544712661000000000"}]}]}]}'
    )
    headers = world.deployment | {"Content-Type": "application/json"}
    assert raw.post("/v1/traces", content=body, headers=headers).status_code == 200
    assert received(raw, "traces", "dropped") == 1


def test_who_may_send(raw, world):
    """routes/telemetry.rs:64-75: a deployment token or an admin; a group token is refused."""
    body = metrics(1)
    assert raw.post("/v1/metrics", content=body, headers=world.admin | PROTOBUF).status_code == 200
    refused = raw.post("/v1/metrics", content=body, headers=world.group | PROTOBUF)
    error = assert_error(refused, 403, "FORBIDDEN")
    assert error["message"] == "Telemetry ingestion requires a deployment token"
    anonymous = raw.post("/v1/metrics", content=body, headers=PROTOBUF)
    assert_error(anonymous, 401, "UNAUTHORIZED", "Authentication required")
    assert received(raw, "metrics", "dropped") == 1


def test_what_is_not_otlp_is_refused(raw, world):
    not_protobuf = raw.post(
        "/v1/logs", content=b"\xff\xff\xff", headers=world.deployment | PROTOBUF
    )
    assert_error(not_protobuf, 400, "BAD_REQUEST")
    not_json = raw.post(
        "/v1/logs",
        content=b'{"resourceLogs": 5}',
        headers=world.deployment | {"Content-Type": "application/json"},
    )
    assert_error(not_json, 400, "BAD_REQUEST")
    text = raw.post(
        "/v1/logs", content=b"x", headers=world.deployment | {"Content-Type": "text/plain"}
    )
    assert_error(text, 415, "UNSUPPORTED_MEDIA_TYPE")
    get = raw.get("/v1/logs", headers=world.deployment)
    assert_error(get, 405, "METHOD_NOT_ALLOWED")
    assert get.headers["allow"] == "POST"


class Collector:
    """A real OTLP/HTTP receiver on a free port: keeps each request, answers as a collector."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                body = self.rfile.read(length)
                collector.requests.append((self.path, self.headers["Content-Type"], body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.close()


def test_with_otlp_endpoint_the_body_goes_to_the_collector(settings, api, world, collector):
    app = create_app(dataclasses.replace(settings, otlp_endpoint=collector.url + "/"))
    client = TestClient(app)
    body = metrics(4)
    response = client.post("/v1/metrics", content=body, headers=world.deployment | PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.content == b'{"accepted":true}'
    as_json = json_format.MessageToJson(spans(1)).encode()
    json_headers = world.deployment | {"Content-Type": "application/json"}
    assert client.post("/v1/traces", content=as_json, headers=json_headers).status_code == 200
    assert collector.requests == [
        ("/v1/metrics", "application/x-protobuf", body),
        ("/v1/traces", "application/json", as_json),
    ]
    assert received(client, "metrics", "forwarded") == 4
    assert received(client, "metrics", "dropped") == 0


def test_a_collector_that_does_not_answer_is_a_retryable_503(settings, world):
    app = create_app(dataclasses.replace(settings, otlp_endpoint=f"http://127.0.0.1:{free_port()}"))
    client = TestClient(app)
    response = client.post("/v1/logs", content=logs(1), headers=world.deployment | PROTOBUF)
    error = assert_error(response, 503, "SERVICE_UNAVAILABLE")
    assert error["retryable"] is True
