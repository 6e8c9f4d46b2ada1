"""`ALIEN_TEST_RECORD`: one NDJSON line per exchange, for client authors (docs/behaviour.md §13.6).

Headers are never written (so neither is `Authorization`), and every token in the path, the
query or a body is cut to its first 12 characters and "…" (`mask`). Each line is one `write()`
to a file opened with O_APPEND, so the workers of a server (and several servers) can share one
file.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.contract.spec import operations

#: Every token form: admin tokens take letters, digits, '-' and '_' (app/settings.py); group and
#: deployment tokens are hex. Matching more than a token only masks more.
TOKEN = re.compile(r"ax_(?:admin|dg|deploy)_[A-Za-z0-9_-]+")
SHOWN = 12
MAX_RECORDED_BODY = 1024 * 1024  # a body beyond this is recorded as its size only
JSON_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})")


def _unescape(text: str) -> str:
    return JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


#: How a token may be hidden in recorded text: percent-encoded (a path or a query) or
#: JSON-escaped (a body that does not parse as JSON), once or several times, mixed.
DECODINGS: tuple[Callable[[str], str], ...] = (unquote, _unescape)


def _decoded(text: str) -> str:
    """`text` decoded by whichever decoding changes it, again, until none does (each change
    shortens the text, so this ends)."""
    while True:
        for decode in DECODINGS:
            decoded = decode(text)
            if decoded != text:
                text = decoded
                break
        else:
            return text


def mask(text: str) -> str:
    """`text` with every token cut to its first 12 characters and "…". A text that hides a
    token behind percent-encoding or JSON escapes is returned decoded, so the cut shows. The one
    place that decides what a token looks like in a record (the recording, the journal)."""
    decoded = _decoded(text)
    if TOKEN.findall(decoded) != TOKEN.findall(text):
        text = decoded
    return TOKEN.sub(lambda m: m.group(0)[:SHOWN] + "…", text)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_masked(v) for v in value]
    if isinstance(value, dict):
        return {mask(k): _masked(v) for k, v in value.items()}
    return value


def _body(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw) > MAX_RECORDED_BODY:
        return {"omitted": f"{len(raw)} bytes"}
    text = raw.decode("utf-8", "replace")
    try:
        return _masked(json.loads(text))
    except ValueError:
        return mask(text)


def operation_table(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str]]:
    table = []
    for path, method, op in operations(spec):
        regex, _, _ = compile_path(path)
        table.append((method.upper(), regex, op["operationId"]))
    return table


class Recorder:
    """Outermost but one (beside the access log), so it sees the final status and body."""

    def __init__(self, app: ASGIApp, path: Path, spec: dict[str, Any]) -> None:
        self.app = app
        self.path = path
        self.table = operation_table(spec)
        self.fd: int | None = None
        self.pid = 0

    def _operation(self, method: str, path: str) -> str | None:
        method = "GET" if method == "HEAD" else method
        return next((o for m, r, o in self.table if m == method and r.match(path)), None)

    def _write(self, line: bytes) -> None:
        if self.fd is None or self.pid != os.getpid():  # opened in each worker, after the fork
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self.pid = os.getpid()
        os.write(self.fd, line)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request: list[bytes] = []
        response: list[bytes] = []
        status = 0

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
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            record = {
                "method": scope["method"],
                "path": mask(scope["path"]),
                "query": mask(scope.get("query_string", b"").decode("latin-1")),
                "status": status,
                "operationId": self._operation(scope["method"], scope["path"]),
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
                "request": _body(b"".join(request)),
                "response": _body(b"".join(response)),
            }
            line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            self._write(line.encode("utf-8", "replace"))
