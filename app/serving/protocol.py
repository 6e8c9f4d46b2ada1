"""uvicorn's httptools protocol, with the guards a public listener needs (docs/behaviour.md §12).

uvicorn's protocol times out the idle time between keep-alive requests only. A request head has
no deadline and no size bound (httptools buffers whatever arrives), so a client that connects
and says nothing, or drips its headers, holds a connection for ever, and a 32 MB header is read
whole. `GuardedHttpToolsProtocol` adds both, and bounds a client that pipelines requests
without reading the answers (uvicorn queues every pipelined request, and waits for ever for a
client to read); `CoalescingTransport` sends a response's head and body in one write.

Written against uvicorn 0.54, whose internals it extends (the protocol's parser callbacks);
pyproject.toml pins it below its next minor version, and tests/app/serving/test_slow_clients.py
exercises every override on a live server.
"""

from __future__ import annotations

import asyncio
import json
from http import HTTPStatus
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.http.error_responses import STATUS, alien_body
from app.serving import drain

#: Requests a client may pipeline ahead of the answers it has not read yet: past it the
#: connection is closed (each waiting request is held in memory; no real client goes near it).
MAX_PIPELINED = 256


class HeadRejected(Exception):
    """Raised from a parser callback to stop parsing a head that was just answered."""


class CoalescingTransport:
    """A transport whose writes of one loop turn leave as one: uvicorn writes a response's head
    and its body separately, and each write is a system call and a packet (docs/performance.md
    has what that cost). The buffered bytes leave at the end of the turn, or before the
    transport closes; everything else is the transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes) -> None:
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """A request head must be complete within `header_timeout` seconds of its first byte (and a
    new connection must start one within as long), and stay under `max_header_bytes`. Idle
    time after a response stays uvicorn's keep-alive timeout."""

    def __init__(self, *args: Any, header_timeout: float, max_header_bytes: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self.awaiting_head = False  # between a response (or the connection) and the next head
        self.head_bytes = 0  # bytes received for an incomplete head
        self.parsed_head_bytes = 0  # request line and headers of the head being parsed
        self.head_timer: asyncio.TimerHandle | None = None
        self.write_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self.transport = CoalescingTransport(self.transport, self.loop)  # type: ignore[assignment]
        self._await_head()
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._disarm_write()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.awaiting_head and self.head_bytes == 0:
            self._arm()  # the head starts now: its own deadline, whatever the idle time was
        super().data_received(data)
        # Still awaiting after the parser ran: every byte of `data` belonged to the head (whose
        # parts httptools buffers until each is complete, so they are counted here too).
        if self.awaiting_head and not self.transport.is_closing():
            self.head_bytes += len(data)
            if self.head_bytes > self.max_header_bytes:
                limit = self.max_header_bytes
                self._reject("REQUEST_HEADERS_TOO_LARGE", f"Request headers exceed {limit} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.parsed_head_bytes = 0

    # A head that arrives whole in one read is parsed before data_received can count it: the
    # parser's callbacks count it too (exactly, as the parts arrive).
    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)  # ": " and CRLF
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self.parsed_head_bytes += size
        if self.parsed_head_bytes > self.max_header_bytes:
            limit = self.max_header_bytes
            self._reject("REQUEST_HEADERS_TOO_LARGE", f"Request headers exceed {limit} bytes")
            raise HeadRejected  # uvicorn then sees a parser error on a connection hanging up

    def send_400_response(self, msg: str) -> None:
        """Malformed HTTP: the spec's error document (uvicorn's is text/plain), then hang up."""
        if not self.transport.is_closing():  # not after a 431/408 this protocol already sent
            self._reject("BAD_REQUEST", "Malformed HTTP request")

    def on_headers_complete(self) -> None:
        self.awaiting_head = False
        self._disarm()
        if len(self.pipeline) >= MAX_PIPELINED:
            self.logger.info("closing a connection: over %d unanswered requests", MAX_PIPELINED)
            self.transport.abort()
            raise HeadRejected  # no more parsing of what this client sent
        super().on_headers_complete()
        if drain.draining.is_set() and self.cycle is not None:  # §12: no keep-alive now
            self.cycle.keep_alive = False

    def pause_writing(self) -> None:
        """The client is not reading its answers (the write buffer is full): it has the
        keep-alive timeout to start reading again, then the connection is closed; meanwhile
        nothing more is answered (or read, once the pipeline is full)."""
        super().pause_writing()
        self._disarm_write()
        self.write_timer = self.loop.call_later(self.timeout_keep_alive, self._write_timed_out)

    def resume_writing(self) -> None:
        self._disarm_write()
        super().resume_writing()

    def _disarm_write(self) -> None:
        if self.write_timer is not None:
            self.write_timer.cancel()
            self.write_timer = None

    def _write_timed_out(self) -> None:
        self.write_timer = None
        self.logger.info("closing a connection: its answers went unread for %gs",
                         self.timeout_keep_alive)  # fmt: skip
        self.transport.abort()

    def drain(self) -> None:
        """Draining began: a request in flight is answered, then its connection closes. (An
        idle one is left to its keep-alive timeout: closing it now would race a client that
        is sending on it.)"""
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined and not self.transport.is_closing():
            self._await_head()  # idle: uvicorn's keep-alive timer runs until the first byte

    def _await_head(self) -> None:
        self.awaiting_head = True
        self.head_bytes = 0

    def _arm(self) -> None:
        self._disarm()
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_bytes:
            seconds = f"{self.header_timeout:g}"
            self._reject("REQUEST_TIMEOUT", f"The request head did not arrive within {seconds} s")
        else:
            self.transport.close()  # said nothing at all: nobody to answer

    def _reject(self, code: str, message: str) -> None:
        """Answer below the app (no request exists yet) with the AlienError, and hang up."""
        self._disarm()
        self.awaiting_head = False
        status = STATUS[code]
        body = json.dumps(alien_body(code, message), separators=(",", ":")).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        self.logger.info("closing a connection: %s", message)
        self.transport.write(head.encode() + body)
        self.transport.close()
