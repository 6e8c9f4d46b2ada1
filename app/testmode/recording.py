"""The journal of exchanges (docs/behaviour.md §13.8): `GET /_test/requests` reads it, and
`ALIEN_TEST_RECORD` appends the same objects to a file as NDJSON.

One object per exchange outside `/_test/*`: when it arrived, its request id, method, path,
query, operationId, request headers and body, response status and body, how it was answered
(`real|stub|prefer|fault`) and how long it took. Every token is masked (app/testmode/masking.py).
The object is in the database before the last byte of the response is sent, so a client that
has its answer finds its exchange without polling. Each NDJSON line is one `write()` to a file
opened with O_APPEND, so the workers of a server (and several servers) can share one file.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.contract.spec import operations
from app.contract.strict_json import NotJson, strict_loads
from app.http.request_log import REQUEST_ID
from app.testmode.masking import mask, masked
from app.testmode.prefer import ANSWERED
from models import testkit
from models.db import request_connection

MAX_RECORDED_BODY = 1024 * 1024  # a body beyond this is recorded as its size only
#: Never journaled: the test controls themselves, and the console's polls (a write a second).
NOT_JOURNALED = ("/_test/", "/console")


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_RECORDED_BODY:
        return {"omitted": f"{len(raw)} bytes"}
    try:
        return masked(strict_loads(raw))
    except NotJson:
        return mask(raw.decode("utf-8", "replace"))


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in scope["headers"]:
        name = key.decode("latin-1")
        text = mask(value.decode("latin-1"))
        headers[name] = f"{headers[name]}, {text}" if name in headers else text
    return headers


def operation_table(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str]]:
    table = []
    for path, method, op in operations(spec):
        regex, _, _ = compile_path(path)
        table.append((method.upper(), regex, op["operationId"]))
    return table


class NdjsonFile:
    """`ALIEN_TEST_RECORD`: opened in each worker, after the fork; one write per line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        self.pid = 0

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        if self.fd is None or self.pid != os.getpid():
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self.pid = os.getpid()
        os.write(self.fd, line.encode("utf-8", "replace"))


class Recorder:
    """Outermost but one (beside the access log), so it sees the final status and body."""

    def __init__(self, app: ASGIApp, spec: dict[str, Any], path: Path | None) -> None:
        self.app = app
        self.table = operation_table(spec)
        self.file = None if path is None else NdjsonFile(path)

    def _operation(self, method: str, path: str) -> str | None:
        method = "GET" if method == "HEAD" else method
        return next((o for m, r, o in self.table if m == method and r.match(path)), None)

    def _keep(self, record: dict[str, Any]) -> None:
        with request_connection():
            arrived = testkit.arrival(record["durationMs"] / 1000)
            record["time"] = arrived.isoformat(timespec="microseconds")
            record["sequence"] = testkit.journal(record)
        if self.file is not None:
            self.file.write(record)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(NOT_JOURNALED):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request: list[bytes] = []
        response: list[bytes] = []
        status = 0
        answered = {"answered": "real"}
        scope.setdefault("extensions", {})[ANSWERED] = answered
        kept = False

        async def keep() -> None:
            nonlocal kept
            if kept:
                return
            kept = True
            record = {
                "sequence": None,
                "time": None,
                "requestId": REQUEST_ID.get(),
                "method": scope["method"],
                "path": mask(scope["path"]),
                "query": mask(scope.get("query_string", b"").decode("latin-1")),
                "operationId": self._operation(scope["method"], scope["path"]),
                "request": {"headers": _headers(scope), "body": _body(b"".join(request))},
                "response": {"status": status, "body": _body(b"".join(response))},
                "answered": answered["answered"],
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
            }
            await run_in_threadpool(self._keep, record)

        async def recv() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request.append(message.get("body", b""))
            return message

        async def snd(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                response.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await keep()  # before the last byte leaves: a client never waits for it
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            await keep()
