"""Test mode's `Prefer` controls (docs/behaviour.md §13.3, §13.4): forced statuses the way Prism
answers them, and WireMock-style delays and broken connections.

Installed only in test mode, after Connexion's security layer: an unauthenticated request gets
its real 401 whatever it prefers, so a forced answer never tells a stranger anything.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import random
import socket
import struct
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.contract.spec import operations
from app.http.error_responses import STATUS, alien_response
from models.errors import BadRequest

MAX_DELAY_MS = 30_000
FAULTS = ("reset", "empty", "truncated")
#: Statuses every operation may be forced to answer beyond those the overlaid spec declares.
ALWAYS = (500, 503)
#: The AlienError code a forced error carries: the first of §3's codes for that status, or a
#: more precise one for a 404 on a path naming one object.
FORCED_CODE = {status: code for code, status in reversed(STATUS.items())} | {
    400: "VALIDATION_ERROR",
    500: "GENERIC_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
NOT_FOUND_BY_PATH = (
    ("/v1/deployments/", "DEPLOYMENT_NOT_FOUND"),
    ("/v1/deployment-groups/", "DEPLOYMENT_GROUP_NOT_FOUND"),
    ("/v1/releases/", "RELEASE_NOT_FOUND"),
)


def possible_statuses(spec: dict[str, Any]) -> dict[str, list[int]]:
    """operationId -> the statuses it may be forced to: its declared ones (overlay included)
    plus 500 and 503."""
    return {
        op["operationId"]: sorted({int(s) for s in op["responses"] if s.isdigit()} | set(ALWAYS))
        for _, _, op in operations(spec)
    }


def preferences(scope: Scope) -> dict[str, str]:
    """RFC 7240 `Prefer` headers, every one, as {name: value} (parameters after `;` ignored)."""
    found: dict[str, str] = {}
    for key, value in scope["headers"]:
        if key != b"prefer":
            continue
        for item in value.decode("latin-1").split(","):
            name, _, val = item.split(";", 1)[0].partition("=")
            if name.strip():
                found[name.strip().lower()] = val.strip().strip('"')
    return found


def _bounded_int(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise BadRequest(
            f"Prefer: {name}= takes an integer from {low} to {high}", {"preference": name}
        )
    return int(value)


class PreferControls:
    """`Prefer: code=NNN`, `delay=<ms>`, `fault=reset|empty|truncated`, and the seeded
    `ALIEN_TEST_FAULT_RATE` of 503s. A request without them passes straight through."""

    def __init__(self, app: ASGIApp, statuses: dict[str, list[int]], fault_rate: float) -> None:
        self.app = app
        self.statuses = statuses
        self.fault_rate = fault_rate
        self.random = random.Random(0)  # seeded: the same sequence on every start (§13.4)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation_id = (
            scope.get("extensions", {}).get("connexion_routing", {}).get("operation_id")
            if scope["type"] == "http"
            else None
        )
        if operation_id not in self.statuses:
            await self.app(scope, receive, send)
            return
        prefer = preferences(scope)
        code = fault = None
        if "code" in prefer:
            code = _bounded_int("code", prefer["code"], 100, 599)
            if code not in self.statuses[operation_id]:
                raise BadRequest(
                    f"Prefer: code={code} is not a status {operation_id} may answer; "
                    f"possible: {', '.join(map(str, self.statuses[operation_id]))}",
                    {"operation_id": operation_id, "possible": self.statuses[operation_id]},
                )
        if "fault" in prefer:
            fault = prefer["fault"]
            if fault not in FAULTS:
                raise BadRequest(
                    f"Prefer: fault= takes one of {', '.join(FAULTS)}", {"preference": "fault"}
                )
            if code is not None:
                raise BadRequest("Prefer: code= and fault= cannot be combined")
        if "delay" in prefer:
            await asyncio.sleep(_bounded_int("delay", prefer["delay"], 0, MAX_DELAY_MS) / 1000)
        if fault == "truncated":
            await self.app(scope, receive, _truncating(send))
        elif fault is not None:
            await _break_connection(scope, receive, reset=fault == "reset")
        elif code is not None and code >= 300:
            await _forced_error(scope, receive, send, code)
        elif self.fault_rate and self.random.random() < self.fault_rate:
            await _forced_error(scope, receive, send, 503)
        else:
            await self.app(scope, receive, send)


async def _forced_error(scope: Scope, receive: Receive, send: Send, status: int) -> None:
    """The status, with a spec-valid AlienError body; the operation does not run."""
    code = FORCED_CODE.get(status, "GENERIC_ERROR" if status >= 500 else "BAD_REQUEST")
    if status == 404:
        path = scope["path"]
        code = next((c for prefix, c in NOT_FOUND_BY_PATH if path.startswith(prefix)), code)
    if STATUS.get(code) != status:  # a status §3 has no code for (e.g. 3xx): keep the shape
        raise BadRequest(f"Prefer: code={status} has no AlienError code to answer with")
    reason = "Service unavailable" if status == 503 else f"Status {status}"
    message = f"{reason} (forced by Prefer: code={status}, test mode)"
    rendered = alien_response(
        code, message, headers={"Retry-After": "1"} if status == 503 else None
    )
    response = Response(
        rendered.body,
        rendered.status_code,
        headers=dict(rendered.headers or {}),
        media_type="application/json",
    )
    await response(scope, receive, send)


def _truncating(send: Send) -> Send:
    """Let the operation run, then send its response with its full Content-Length but only
    half of its body, and stop: the server closes the connection mid-body."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def cut(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
            return
        if message["type"] != "http.response.body" or start is None:
            await send(message)
            return
        chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(max(len(body), 1)).encode()))
        await send({**start, "headers": headers})
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )

    return cut


async def _break_connection(scope: Scope, receive: Receive, *, reset: bool) -> None:
    """Close the client's connection without a response: a FIN (`empty`) or a RST (`reset`).

    ASGI gives an application no handle on its connection, so the socket is found by its two
    addresses among this process's descriptors. The operation does not run."""
    sock = _find_socket(scope.get("client"), scope.get("server"))
    if sock is None:
        raise RuntimeError("test mode: the connection to break was not found")
    with sock:
        if reset:
            _reset(sock)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    try:  # wait until the server has seen the connection go, so it answers nothing itself
        async with asyncio.timeout(2):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        pass


def _find_socket(client: Any, server: Any) -> socket.socket | None:
    if not client or not server:
        return None
    fd_dir = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    for name in os.listdir(fd_dir):
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except (OSError, ValueError):
            continue
        try:
            if (
                sock.type == socket.SOCK_STREAM
                and sock.getpeername()[:2] == tuple(client)
                and sock.getsockname()[:2] == tuple(server)
            ):
                return sock
        except OSError:
            pass
        sock.close()
    return None


def _reset(sock: socket.socket) -> None:
    """Abort the connection with a RST. On Linux, connect(AF_UNSPEC) disconnects a TCP socket
    at once whoever else holds it; elsewhere, a zero linger makes the server's own close a RST."""
    libc = ctypes.CDLL(None, use_errno=True)
    unspec = struct.pack("H14x", socket.AF_UNSPEC)
    if libc.connect(sock.fileno(), unspec, len(unspec)) != 0:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
