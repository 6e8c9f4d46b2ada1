"""The one clock. Lease expiry and every timestamp read it, so tests can move time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset_seconds = 0.0


def now() -> datetime:
    """Aware UTC now, at microsecond precision, shifted by whatever a test has advanced."""
    return datetime.now(UTC) + timedelta(seconds=_offset_seconds)


def advance(seconds: float) -> None:
    """Move the clock forward (tests only: simulates the passing of a lease TTL)."""
    global _offset_seconds
    _offset_seconds += seconds


def reset() -> None:
    global _offset_seconds
    _offset_seconds = 0.0
