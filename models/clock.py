"""The one clock. Lease expiry and every timestamp read it, so tests can move time.

Two offsets move it forward: an in-process one (`advance`, for unit tests) and, in test mode
only, one shared through the database (`TestClock`, docs/behaviour.md §13.5), so that every
worker of every instance sharing the database reads the same time. Outside test mode `now()`
never touches the database: `_shared` stays None and costs one comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import peewee

from models.base import BaseModel
from models.db import db

_offset_seconds = 0.0
_shared: Callable[[], float] | None = None


def now() -> datetime:
    """Aware UTC now, at microsecond precision, shifted by whatever a test has advanced."""
    shared = 0.0 if _shared is None else _shared()
    return datetime.now(UTC) + timedelta(seconds=_offset_seconds + shared)


def advance(seconds: float) -> None:
    """Move the clock forward (tests only: simulates the passing of a lease TTL)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    """Back to real time in this process (the shared offset is no longer consulted)."""
    global _offset_seconds, _shared
    _offset_seconds = 0.0
    _shared = None


class TestClock(BaseModel):
    """Test mode only: the offset every process adds to real time, one row (id 1).

    Not a migration: the table exists only in databases a test-mode server has used, and
    only test mode reads it."""

    __test__ = False  # not a pytest class
    id = peewee.IntegerField(primary_key=True)
    offset_us = peewee.BigIntegerField(default=0)


def shared_offset_seconds() -> float:
    """The database offset; one primary-key read, on the caller's connection (inside its
    transaction when it has one, so a lease decision and its time come from one snapshot)."""
    row = TestClock.select(TestClock.offset_us).where(TestClock.id == 1).tuples().first()
    return 0.0 if row is None else row[0] / 1_000_000


def share_through_database() -> None:
    """Test mode: consult the shared offset on every `now()` (the table must exist: see
    `create_shared_table`, run at start-up under the start-up lock)."""
    global _shared
    _shared = shared_offset_seconds


def create_shared_table() -> None:
    db.create_tables([TestClock], safe=True)
    TestClock.insert(id=1, offset_us=0).on_conflict_ignore().execute()


def advance_shared(seconds: float) -> float:
    """Move every process's clock forward by `seconds`; return the new total offset."""
    with db.atomic():
        TestClock.update(offset_us=TestClock.offset_us + round(seconds * 1_000_000)).where(
            TestClock.id == 1
        ).execute()
        return shared_offset_seconds()


def reset_shared() -> None:
    """Back to real time for every process (part of a test-mode reset's transaction)."""
    TestClock.update(offset_us=0).where(TestClock.id == 1).execute()
