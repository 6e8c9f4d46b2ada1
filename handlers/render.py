"""Wire-format helpers shared by the handler modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def iso(at: datetime) -> str:
    """RFC 3339 UTC with microseconds and `+00:00`, as docs/behaviour.md §1 prescribes."""
    return at.isoformat(timespec="microseconds")


def present(**fields: Any) -> dict[str, Any]:
    """The optional fields that are set: absent ones are omitted, never sent as null."""
    return {key: value for key, value in fields.items() if value is not None}
