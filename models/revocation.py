"""A revocation counter shared by every process serving from one database on this machine.

A worker caches a token's lookup for at most a second (app/http/auth.py, docs/behaviour.md §2).
Whatever revokes or deletes tokens calls `revoked()` once its transaction has committed: that
changes the shared value, and a cached lookup made under an older value is not trusted again.
So a revocation is refused at once by every worker of an instance, by every instance on the
same SQLite file, and after the `alien-server tokens revoke` command, which shares the file;
an instance on another machine (PostgreSQL) sees it within the cache's second.

The value lives in an 8-byte file mapped into memory (MAP_SHARED): reading it is a memory
read, not a system call. Next to the SQLite file, so instances sharing that file share it; in
the state directory for PostgreSQL. Without a file (in-memory SQLite, or a file that cannot be
made) it is this process's alone, which the one-second bound still covers.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("alien.db")

SIZE = 8


class Generation:
    """The shared value: `current()` to read it, `bump()` to change it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._map = self._open(path) if path is not None else None
        if self._map is None:
            self._map = mmap.mmap(-1, SIZE)

    @staticmethod
    def _open(path: Path) -> mmap.mmap | None:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("token revocations are not shared between processes: %s", exc.strerror)
            return None
        try:
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)
            return mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)  # not a SQLite file: closing it drops no database lock

    def current(self) -> bytes:
        assert self._map is not None
        return self._map[:SIZE]

    def bump(self) -> None:
        """A new value, never the one before (random: no read-modify-write race)."""
        assert self._map is not None
        value = os.urandom(SIZE)
        while value == self._map[:SIZE]:
            value = os.urandom(SIZE)
        self._map[:SIZE] = value


shared = Generation()
_listeners: list[weakref.WeakMethod[Callable[[], None]]] = []
_pending = threading.local()


def configure(path: Path | None) -> None:
    """Share the value through `path` (models.db's caller chooses it, app.open_storage)."""
    global shared
    if shared.path != path:
        shared = Generation(path)


def on_revocation(listener: Callable[[], None]) -> None:
    """Also call `listener`, a bound method, on every revocation made by this process (an app's
    token cache); held weakly, so an app that is gone (tests make many) is not kept alive."""
    _listeners.append(weakref.WeakMethod(listener))


def revoked() -> None:
    """Tokens were revoked or deleted: call it after the transaction that did it. Inside an
    enclosing transaction (a reconcile that deletes its deployment) it cannot know when that
    commits, so the request's end (`settle`, models.db.request_connection) says it once more:
    a lookup cached between the two, which could still see the token, is dropped then."""
    _pending.value = True
    _announce()


def settle() -> None:
    """A request has ended: repeat a revocation it made, now that its transactions are over."""
    if getattr(_pending, "value", False):
        _pending.value = False
        _announce()


def _announce() -> None:
    shared.bump()
    for ref in list(_listeners):
        listener = ref()
        if listener is None:
            _listeners.remove(ref)
        else:
            listener()
