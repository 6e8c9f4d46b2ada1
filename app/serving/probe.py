"""A database check that answers in bounded time, for `/ready` and `/metrics` (§12).

During a silent network partition a query neither answers nor fails: the socket waits for the
kernel to give up, many seconds. A load balancer or a scraper must hear "not ready" sooner. A
`BoundedCheck` runs its check in a thread of its own and waits at most `seconds` for it; while
one run is still stuck, later calls wait on that same run instead of starting another, so a
partition costs one thread and one connection, not one per probe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Generic, TypeVar

T = TypeVar("T")

#: How long `/ready` and `/metrics` wait for the database before answering 503.
SECONDS = 1.0


class TimedOut(Exception):
    """The check did not finish within its time."""


class BoundedCheck(Generic[T]):
    def __init__(self, check: Callable[[], T], seconds: float = SECONDS) -> None:
        self.check = check
        self.seconds = seconds
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._running: Future[T] | None = None

    def __call__(self) -> T:
        """The check's result (or its exception); TimedOut after `seconds`."""
        with self._lock:
            if self._running is None or self._running.done():
                if self._executor is None:  # made on first use: after a fork, in the worker
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="probe")
                self._running = self._executor.submit(self.check)
            running = self._running
        try:
            return running.result(timeout=self.seconds)
        except FutureTimeout:
            raise TimedOut from None
