"""How test mode answers instead of the operation (docs/behaviour.md §13.3, §13.4, §13.7): an
error that looks like the real one, a canned response, a delay, a broken connection. Used by
`Prefer` (app/testmode/prefer.py) and by stubs (app/testmode/stubs.py) alike.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import socket
import struct
from typing import Any

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from app.http.body import read_body, replay
from app.http.error_responses import INTERNAL_ERROR_MESSAGE, STATUS, alien_body

FAULTS = ("reset", "empty", "truncated")
#: The AlienError code a forced error carries: the first of §3's codes for that status, or a
#: more precise one for a 404 on a path naming one object, or a 409 on reconcile.
FORCED_CODE = {status: code for code, status in reversed(STATUS.items())} | {
    400: "VALIDATION_ERROR",
    500: "GENERIC_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
NAMED_OBJECT = re.compile(r"^/v1/(deployments|deployment-groups|releases)/([^/]+)")
NOT_FOUND = {
    "deployments": ("DEPLOYMENT_NOT_FOUND", "Deployment", "deployment_id"),
    "deployment-groups": ("DEPLOYMENT_GROUP_NOT_FOUND", "Deployment group", "deployment_group_id"),
    "releases": ("RELEASE_NOT_FOUND", "Release", "release_id"),
}
#: The lease holder a forced 409 names (a real one names the session holding the lease).
OTHER_SESSION = "test-mode-other-session"
DEFAULT_RETRY_AFTER = "1"
MESSAGES = {500: INTERNAL_ERROR_MESSAGE, 503: "Service unavailable"}


def has_error_code(status: int) -> bool:
    return STATUS.get(FORCED_CODE.get(status, "")) == status


async def error_body(
    scope: Scope, receive: Receive, status: int, why: str
) -> tuple[dict[str, Any], Receive]:
    """The AlienError a real `status` of this request would carry (§3's code, the real
    message and context where the operation has them: a 404 names its object, a 409 on
    reconcile its deployment and `locked_by`), the message saying `why` it was answered. Also
    the `receive` to use after it: the request body is read (the journal keeps it, and a 409
    names the deployment it holds)."""
    body = await read_body(receive)
    receive = replay(body, receive)
    code = FORCED_CODE[status]
    message = MESSAGES.get(status, f"Status {status}")
    context: dict[str, Any] | None = None
    named = NAMED_OBJECT.match(scope["path"])
    if status == 404 and named:
        code, what, key = NOT_FOUND[named.group(1)]
        message = f"{what} '{named.group(2)}' not found"
        context = {key: named.group(2)}
    elif status == 409:
        try:
            deployment_id = json.loads(body or b"null").get("deploymentId")
        except (ValueError, AttributeError, RecursionError):
            deployment_id = None
        code = "DEPLOYMENT_LOCKED"
        message = f"Deployment '{deployment_id}' is locked"
        context = {"deployment_id": deployment_id, "locked_by": OTHER_SESSION}
    return alien_body(code, f"{message} ({why}, test mode)", context), receive


async def respond(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    body: Any,
    headers: dict[str, str] | None = None,
) -> None:
    """`body` as JSON with `status`; a 503 says when to retry (`Retry-After`, 1 s unless
    `headers` set it). No `Connection: close`: the connection stays as a real answer leaves it."""
    headers = dict(headers or {})
    if status == 503 and not any(k.lower() == "retry-after" for k in headers):
        headers["Retry-After"] = DEFAULT_RETRY_AFTER
    if status == 401 and not any(k.lower() == "www-authenticate" for k in headers):
        headers["WWW-Authenticate"] = "Bearer"
    content = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    response = Response(content, status, headers=headers, media_type="application/json")
    await response(scope, receive, send)


def truncating(send: Send) -> Send:
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


async def break_connection(scope: Scope, receive: Receive, *, reset: bool) -> None:
    """Close the client's connection without a response: a FIN (`empty`) or a RST (`reset`),
    once the request body is read (the journal keeps it).

    ASGI gives an application no handle on its connection, so the socket is found by its two
    addresses among this process's descriptors. The operation does not run."""
    await read_body(receive)
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
