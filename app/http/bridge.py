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

The hand-over is a queue the threads take requests from and a future of the loop's that the
thread resolves: the executor's futures (a condition and a lock each, chained to a second
future on the loop) and a2wsgi's environ (which asks `os.environ` for `SCRIPT_NAME` on every
request, a failed lookup and an exception each time) cost about a tenth of a GET.
"""

from __future__ import annotations

import asyncio
import contextvars
import io
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import Receive, Scope, Send

from app.http.body import read_body

Headers = list[tuple[bytes, bytes]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = tuple[int, Headers, bytes]
Job = tuple[
    contextvars.Context, dict[str, Any], asyncio.AbstractEventLoop, "asyncio.Future[Answer]"
]


class OneHopWSGI:
    """An ASGI app serving the WSGI app `app` (kept as `.app`, where Connexion's
    `add_wsgi_middleware` wraps it) from `threads` threads.

    The pool is small on purpose (ALIEN_WORKER_THREADS, 4): only one thread runs Python at a
    time, and every thread waiting for the interpreter lock beside the event loop adds lock
    hand-overs, each a context switch (measured in docs/performance.md). A thread is held only
    while Flask runs: a slow client is the event loop's, never a thread's. The threads start
    with the first request (after gunicorn's fork, in the worker that serves)."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self.app = app
        self.threads = threads
        self.jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self.started = False
        self.start_lock = threading.Lock()
        # Read once: a2wsgi reads it per request; a server's environment does not change.
        self.script_name = _wsgi_text(os.environ.get("SCRIPT_NAME", ""))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        body = await read_body(receive)
        environ = wsgi_environ(scope, body, self.script_name)
        if not self.started:
            self._start()
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Answer] = loop.create_future()
        self.jobs.put((contextvars.copy_context(), environ, loop, answer))
        status, headers, content = await answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def _start(self) -> None:
        with self.start_lock:
            if self.started:
                return
            for n in range(self.threads):
                threading.Thread(target=self._work, name=f"WSGI_{n}", daemon=True).start()
            self.started = True

    def _work(self) -> None:
        while True:
            context, environ, loop, answer = self.jobs.get()
            try:
                result = context.run(self._respond, environ)
            except BaseException as exc:  # rendered by the error handlers, as a2wsgi's
                loop.call_soon_threadsafe(_settle, answer, None, exc)
            else:
                loop.call_soon_threadsafe(_settle, answer, result, None)

    def _respond(self, environ: dict[str, Any]) -> Answer:
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


def _settle(
    answer: asyncio.Future[Answer], result: Answer | None, exc: BaseException | None
) -> None:
    if answer.cancelled():  # the request was given up while Flask ran
        return
    if exc is not None:
        answer.set_exception(exc)
    else:
        answer.set_result(result)  # type: ignore[arg-type]  # a result whenever exc is None


def _wsgi_text(text: str) -> str:
    """An environment variable as a WSGI "bytes-as-unicode" string (PEP 3333), as a2wsgi."""
    return text.encode(sys.getfilesystemencoding(), "surrogateescape").decode("iso-8859-1")


def wsgi_environ(scope: Scope, body: bytes, script_name: str = "") -> dict[str, Any]:
    """The WSGI environ of an ASGI request, as a2wsgi's `build_environ` makes it (with
    SCRIPT_NAME from the environment when set; tests/app/http/test_bridge.py compares)."""
    root = scope.get("root_path", "").encode("utf8").decode("latin1")
    path_info = scope["path"].encode("utf8").decode("latin1")
    if path_info.startswith(root):
        path_info = path_info[len(root) :]
    server_addr, server_port = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "asgi.scope": scope,
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": script_name or root,
        "PATH_INFO": path_info,
        "QUERY_STRING": scope["query_string"].decode("ascii"),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stdout,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "SERVER_NAME": server_addr,
        "SERVER_PORT": str(server_port or 0),
    }
    client = scope.get("client")
    if client is not None:
        environ["REMOTE_ADDR"], port = client
        environ["REMOTE_PORT"] = str(port)
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin1")
        if name == "content-length":
            key = "CONTENT_LENGTH"
        elif name == "content-type":
            key = "CONTENT_TYPE"
        else:
            key = f"HTTP_{name}".upper().replace("-", "_")
        value = raw_value.decode("latin1")
        if key in environ:
            value = environ[key] + "," + value
        environ[key] = value
    return environ


async def _lifespan(receive: Receive, send: Send) -> None:
    message = await receive()
    assert message["type"] == "lifespan.startup"
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    assert message["type"] == "lifespan.shutdown"
    await send({"type": "lifespan.shutdown.complete"})
