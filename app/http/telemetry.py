"""`POST /v1/logs`, `/v1/traces`, `/v1/metrics`: OTLP/HTTP ingestion (docs/behaviour.md §5.5).

The spec names a `telemetry` tag and no paths; the reference serves these beside the API
(crates/alien-manager/src/routes/mod.rs:65-67, routes/telemetry.rs): any token authenticates,
a deployment token or an admin may send, a deployment group token is refused, and the answer is
`{"accepted":true}`. With OTLP_ENDPOINT set, the body goes on to `<endpoint>/v1/<signal>`
(providers/otlp_forwarding.rs); without, the reference keeps it in dev mode's memory and this
server counts what it received (`alien_telemetry_received_total`) and drops it.

The body is read with the OpenTelemetry project's own message types (opentelemetry-proto), as
protobuf (`application/x-protobuf`) or as OTLP/JSON (`application/json`, which the request gate
names so for every JSON type): a body that is neither is a 400 here, where the reference passes
it on unread. What is forwarded is the body as it came, with its own Content-Type.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from connexion.exceptions import ProblemException
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.contract.strict_json import compact_dumps
from app.http.auth import TokenCache, authenticate
from app.http.body import read_body
from models.errors import BadRequest, DomainError, Forbidden

#: path -> (signal, the OTLP request message it carries)
SIGNALS: dict[str, tuple[str, type[Message]]] = {
    "/v1/logs": ("logs", ExportLogsServiceRequest),
    "/v1/traces": ("traces", ExportTraceServiceRequest),
    "/v1/metrics": ("metrics", ExportMetricsServiceRequest),
}
PROTOBUF = ("application/x-protobuf", "application/protobuf")
JSON = "application/json"
#: How long a collector gets to take a body before the sender is told to retry.
FORWARD_TIMEOUT_SECONDS = 10.0


class CollectorUnavailable(DomainError):
    """The collector gave no answer: retryable, so the sender's exporter tries again."""

    code = "SERVICE_UNAVAILABLE"


#: count(signal, outcome, items): outcome is "forwarded" or "dropped".
Count = Callable[[str, str, int], None]


def items(signal: str, message: Any) -> int:
    """What one export request carries: log records, spans or metric data points."""
    if signal == "logs":
        return sum(
            len(scope.log_records)
            for resource in message.resource_logs
            for scope in resource.scope_logs
        )
    if signal == "traces":
        return sum(
            len(scope.spans)
            for resource in message.resource_spans
            for scope in resource.scope_spans
        )
    points = 0
    for resource in message.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                if kind is not None:
                    points += len(getattr(metric, kind).data_points)
    return points


def parse(signal: str, message_type: type[Message], media_type: str, body: bytes) -> int:
    """The number of items in `body`, read as the OTLP request of `signal`; a BadRequest (400)
    for a body that is not one."""
    message = message_type()
    try:
        if media_type in PROTOBUF:
            message.ParseFromString(body)
        else:
            json_format.Parse(body.decode("utf-8") if body else "{}", message)
    except (DecodeError, json_format.ParseError, UnicodeDecodeError) as exc:
        kind = "protobuf" if media_type in PROTOBUF else "JSON"
        raise BadRequest(
            f"The body is not an OTLP {message_type.__name__} in {kind}: {str(exc)[:200]}"
        ) from None
    return items(signal, message)


class TelemetryRoutes:
    """The three OTLP/HTTP paths, answered here, before Connexion routes anything."""

    def __init__(
        self,
        app: ASGIApp,
        dev_mode: bool,
        cache: TokenCache,
        endpoint: str | None,
        count: Count,
    ) -> None:
        self.app = app
        self.dev_mode = dev_mode
        self.cache = cache
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.count = count
        self.client = httpx.AsyncClient(timeout=FORWARD_TIMEOUT_SECONDS) if endpoint else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in SIGNALS:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            raise ProblemException(
                status=405,
                title="Method Not Allowed",
                detail=f"Method {scope['method']} not allowed; allowed: POST",
                headers={"Allow": "POST"},
            )
        signal, message_type = SIGNALS[scope["path"]]
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        caller = await authenticate(
            None if auth is None else auth.decode("latin-1"), self.dev_mode, self.cache
        )
        if not (caller.is_admin or caller.deployment_id is not None):
            raise Forbidden("Telemetry ingestion requires a deployment token")
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode()
        if media_type not in (*PROTOBUF, JSON):
            raise ProblemException(
                status=415,
                title="Unsupported Media Type",
                detail="Send OTLP as application/x-protobuf or application/json",
            )
        body = await read_body(receive)
        received = parse(signal, message_type, media_type, body)
        if self.client is None:
            self.count(signal, "dropped", received)
        else:
            await self._forward(scope["path"], media_type, body)
            self.count(signal, "forwarded", received)
        await Response(compact_dumps({"accepted": True}), media_type=JSON)(scope, receive, send)

    async def _forward(self, path: str, media_type: str, body: bytes) -> None:
        """Hand the body to the collector as it came. Any answer of the collector counts as
        delivered (as the reference); none at all is a 503 the sender's exporter retries."""
        assert self.client is not None
        try:
            await self.client.post(
                f"{self.endpoint}{path}", content=body, headers={"Content-Type": media_type}
            )
        except httpx.HTTPError:
            raise CollectorUnavailable(
                "The telemetry collector (OTLP_ENDPOINT) does not answer"
            ) from None
