"""The one clock. Lease expiry and every timestamp read it, so tests can move time.

Two offsets move it: an in-process one (`advance`, for unit tests) and, in test mode
only, one shared through the database (`TestClock`, docs/behaviour.md §13.5), so that every
worker of every instance sharing the database reads the same time. Outside test mode `now()`
never touches the database: `_shared` stays None and costs one comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import peewee
from playhouse.migrate import SchemaMigrator
from playhouse.migrate import migrate as alter

from models.base import BaseModel
from models.db import db
from models.errors import BadRequest

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_offset_seconds = 0.0
_shared: Callable[[], tuple[int, int | None]] | None = None


def now() -> datetime:
    """Aware UTC now, at microsecond precision, shifted by whatever a test has advanced (or
    the instant a test froze the shared clock at)."""
    current = datetime.now(UTC)
    if _shared is not None:
        offset_us, frozen_us = _shared()
        current = (
            current + timedelta(microseconds=offset_us)
            if frozen_us is None
            else EPOCH + timedelta(microseconds=frozen_us)
        )
    return current + timedelta(seconds=_offset_seconds)


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
    """Test mode only: the offset every process adds to real time, one row (id 1), and the
    instant the clock stands still at while frozen (`frozen_us`, microseconds since the epoch;
    null while it runs).

    Not a migration: the table exists only in databases a test-mode server has used, and
    only test mode reads it."""

    __test__ = False  # not a pytest class
    id = peewee.IntegerField(primary_key=True)
    offset_us = peewee.BigIntegerField(default=0)
    frozen_us = peewee.BigIntegerField(null=True)


#: How far the shared clock may stand from real time, either way: far enough for any lease or
#: expiry a test needs, near enough that every timestamp stays a valid date (docs §13.5).
MAX_OFFSET_SECONDS = 100 * 365 * 24 * 3600


class ClockOutOfRange(BadRequest):
    """A move that would put the shared clock more than MAX_OFFSET_SECONDS from real time."""


def _shared_row() -> tuple[int, int | None]:
    row = (
        TestClock.select(TestClock.offset_us, TestClock.frozen_us)
        .where(TestClock.id == 1)
        .tuples()
        .first()
    )
    return (0, None) if row is None else row


def _real_us() -> int:
    return (datetime.now(UTC) - EPOCH) // timedelta(microseconds=1)


def shared_offset_seconds() -> float:
    """The database offset (while frozen: how far the frozen instant is from real time); one
    primary-key read, on the caller's connection (inside its transaction when it has one, so a
    lease decision and its time come from one snapshot)."""
    offset_us, frozen_us = _shared_row()
    if frozen_us is not None:
        offset_us = frozen_us - _real_us()
    return offset_us / 1_000_000


def shared_frozen() -> bool:
    return _shared_row()[1] is not None


def share_through_database() -> None:
    """Test mode: consult the shared offset on every `now()` (the table must exist: see
    `create_shared_table`, run at start-up under the start-up lock)."""
    global _shared
    _shared = _shared_row


def create_shared_table() -> None:
    db.create_tables([TestClock], safe=True)
    columns = {c.name for c in db.get_columns(TestClock._meta.table_name)}
    if "frozen_us" not in columns:  # a table made before the clock could freeze
        migrator = SchemaMigrator.from_database(db.obj)
        alter(migrator.add_column(TestClock._meta.table_name, "frozen_us", TestClock.frozen_us))
    TestClock.insert(id=1, offset_us=0).on_conflict_ignore().execute()
    offset_us, frozen_us = _shared_row()
    if (
        abs(offset_us) > MAX_OFFSET_SECONDS * 1_000_000
        or frozen_us is not None
        and (abs(frozen_us - _real_us()) > MAX_OFFSET_SECONDS * 1_000_000)
    ):  # left by a version without the bound: back to real time, or nothing could start
        reset_shared()


def move_shared(
    *, to: datetime | None = None, seconds: float = 0, frozen: bool | None = None
) -> None:
    """Move every process's clock, in this order: to the instant `to`, forward by `seconds`,
    then stop it where it stands (`frozen=True`) or let it run on from there (`False`). A
    frozen clock stays frozen through the moves. ClockOutOfRange past the bound; nothing moves."""
    with db.atomic():
        offset_us, frozen_us = _shared_row()
        real = _real_us()
        if to is not None:
            target = (to - EPOCH) // timedelta(microseconds=1)
            offset_us, frozen_us = (target - real, None) if frozen_us is None else (0, target)
        step = round(seconds * 1_000_000)
        offset_us, frozen_us = (
            (offset_us + step, None) if frozen_us is None else (offset_us, frozen_us + step)
        )
        if frozen is True and frozen_us is None:
            frozen_us = real + offset_us
        elif frozen is False and frozen_us is not None:
            offset_us, frozen_us = frozen_us - real, None
        limit = MAX_OFFSET_SECONDS * 1_000_000
        if abs(offset_us) > limit or (frozen_us is not None and abs(frozen_us - real) > limit):
            raise ClockOutOfRange(
                f"The test clock stays within {MAX_OFFSET_SECONDS} seconds (100 years) of real "
                "time; POST /_test/reset puts it back",
                {"max_offset_seconds": MAX_OFFSET_SECONDS},
            )
        TestClock.update(offset_us=offset_us, frozen_us=frozen_us).where(
            TestClock.id == 1
        ).execute()


def reset_shared() -> None:
    """Back to real time, running, for every process (part of a test-mode reset's
    transaction)."""
    TestClock.update(offset_us=0, frozen_us=None).where(TestClock.id == 1).execute()
