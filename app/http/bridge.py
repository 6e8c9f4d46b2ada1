"""Flask behind Connexion's ASGI stack, with one thread hop per request.

Connexion's FlaskApp runs Flask through a2wsgi, which crosses between the event loop and the
worker thread once to start the request and again for every message of the response (the
status line, each body chunk, the end), each crossing a wake-up of the other side. Nothing
this server answers from Flask streams (JSON documents, the spec, the metrics page), so here
the body is read on the loop (it is already in memory: the limits and the validators read it
first), Flask runs once in a thread with it, and the whole response comes back in one piece.

The thread runs in a copy of the request's context, as a2wsgi's does, so Connexion's
`context` (the caller the security layer found) reaches the handler. An exception leaves the
thread as it would leave a2wsgi: Connexion's error handlers render it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ
from starlette.types import Receive, Scope, Send

from app.http.body import read_body

Headers = list[tuple[bytes, bytes]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class OneHopWSGI:
    """An ASGI app serving the WSGI app `app` (kept as `.app`, where Connexion's
    `add_wsgi_middleware` wraps it) from a pool of `threads` threads.

    The pool is small on purpose (ALIEN_WORKER_THREADS, 4): only one thread runs Python at a
    time, and every thread waiting for the interpreter lock beside the event loop adds lock
    hand-overs, each a context switch (measured in docs/performance.md). A thread is held only
    while Flask runs: a slow client is the event loop's, never a thread's."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(thread_name_prefix="WSGI", max_workers=threads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        body = await read_body(receive)
        environ: dict[str, Any] = build_environ(scope, io.BytesIO(body))  # type: ignore[arg-type,assignment]
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        respond = functools.partial(context.run, self._respond, environ)
        status, headers, content = await loop.run_in_executor(self.executor, respond)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _respond(self, environ: dict[str, Any]) -> tuple[int, Headers, bytes]:
        started: list[tuple[int, Headers]] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            encoded = [
                (k.strip().lower().encode("latin1"), v.strip().encode("latin1")) for k, v in headers
            ]
            started[:] = [(int(status.split(" ", 1)[0]), encoded)]
            return chunks.append

        chunks: list[bytes] = []
        iterable = self.app(environ, start_response)
        try:
            chunks.extend(iterable)
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()
        status, headers = started[0]
        return status, headers, b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    await send({"type": "lifespan.shutdown.complete"})
