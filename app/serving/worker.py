"""The gunicorn worker: uvicorn-worker's, with the guards a public listener needs.

docs/behaviour.md §12 states the rules; this module is where uvicorn gets them:

- the connection's protocol is `app.serving.protocol.GuardedHttpToolsProtocol` (a deadline and
  a size bound on every request head);
- `AlienServer`: SIGTERM first drains (`/ready` answers 503, responses close their
  connections, the listener keeps serving) for ALIEN_DRAIN_SECONDS, then shuts down as
  uvicorn does; SIGQUIT, gunicorn's quick shutdown (what the master sends its workers on
  SIGINT or SIGQUIT), stops at once without waiting for requests in flight; and a worker whose
  master is gone (`kill -9`) shuts itself down.

Written against uvicorn 0.54 and uvicorn-worker 0.4, whose internals it extends
(`Server.on_tick`/`handle_exit`, `UvicornWorker._serve`); pyproject.toml pins both below their
next minor version, and tests/app/serving/test_serving.py exercises every override on a live
server.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn import Config, Server
from uvicorn_worker import UvicornWorker

from app.serving import drain
from app.serving.protocol import GuardedHttpToolsProtocol
from app.settings import Settings

log = logging.getLogger("uvicorn.error")  # the worker's log, wired to gunicorn's error log

#: How often (in uvicorn's 0.1 s ticks) a worker checks that its master is still there.
PARENT_CHECK_TICKS = 10


class AlienServer(Server):
    """uvicorn's Server, draining on SIGTERM and following its master out."""

    def __init__(self, config: Config, drain_seconds: float, parent_pid: int) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.parent_pid = parent_pid
        self.drain_until: float | None = None
        self.drain_begun = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and self.drain_seconds > 0 and not self.should_exit:
            if self.drain_until is None:  # a second SIGTERM changes nothing; SIGINT still ends it
                drain.draining.set()
                self.drain_until = time.monotonic() + self.drain_seconds
            return
        super().handle_exit(sig, frame)

    def quit(self) -> None:
        """gunicorn's quick shutdown: stop now, and let nothing in flight hold the exit.

        uvicorn-worker hands SIGQUIT to gunicorn's `handle_exit`, which only marks the worker
        not alive, something uvicorn never looks at: the master then waited its whole graceful
        timeout and killed the worker. Called on the loop, so the next tick sees it."""
        if not self.force_exit:
            log.info("quick shutdown (SIGQUIT): requests in flight are cut off")
        self.should_exit = True
        self.force_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.drain_until is not None and not self.drain_begun:
            self.drain_begun = True  # here, not in the signal handler: the loop's own thread
            for connection in list(self.server_state.connections):
                if isinstance(connection, GuardedHttpToolsProtocol):
                    connection.drain()
        if self.drain_until is not None and time.monotonic() >= self.drain_until:
            self.drain_until = None
            super().handle_exit(signal.SIGTERM, None)  # drained: now uvicorn's graceful shutdown
        if counter % PARENT_CHECK_TICKS == 0 and os.getppid() != self.parent_pid:
            if not self.should_exit:
                log.warning("gunicorn master %d is gone; shutting down", self.parent_pid)
                super().handle_exit(signal.SIGTERM, None)
        return await super().on_tick(counter)


class AlienWorker(UvicornWorker):  # type: ignore[misc]  # an untyped library's class
    """The worker class app/gunicorn_conf.py names."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = Settings.from_env()
        self.config.http = functools.partial(
            GuardedHttpToolsProtocol,
            header_timeout=self.settings.header_timeout_seconds,
            max_header_bytes=self.settings.max_header_bytes,
        )
        # After the drain, requests in flight get this long before uvicorn cancels them
        # (gunicorn's graceful_timeout, a little longer, is the master's hard stop).
        self.config.timeout_graceful_shutdown = self.settings.graceful_timeout_seconds

    async def _serve(self) -> None:  # uvicorn-worker 0.4's, with our Server
        self.config.app = self.wsgi
        server = AlienServer(self.config, self.settings.drain_seconds, self.ppid)
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, server.quit)
        # The plain sockets, not gunicorn's wrappers: uvloop detaches a real socket once libuv
        # has closed its descriptor, but calls close() on anything else, and gunicorn's wrapper
        # then logs "Error while closing socket [Errno 9]" at every shutdown.
        await server.serve(sockets=[listener.sock for listener in self.sockets])
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
        if server.force_exit:
            # A request still running in a thread (app/http/bridge.py) would hold the
            # interpreter's exit until it ends: a quick shutdown does not wait for it.
            logging.shutdown()
            os._exit(0)
