"""Column types that store the same values the same way on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import orjson
import peewee


class JSONField(peewee.TextField):
    """JSON stored as text: the same bytes on every engine, no extension needed."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))

    def python_value(self, value: str | None) -> Any:
        if value is None:
            return None
        try:  # the same values as json.loads, in a fraction of its time (a page reads 50 rows)
            return orjson.loads(value)
        except orjson.JSONDecodeError:  # an integer beyond 64 bits, which orjson refuses
            return json.loads(value)


class ExactText(peewee.TextField):
    """Free text a client chose (names, sessions), stored exactly on every engine.

    PostgreSQL text cannot hold NUL, which JSON strings may carry: NUL and the escape character
    are escaped on the way in. Comparisons go through the same escaping, so lookups still work.
    """

    def db_value(self, value: str | None) -> str | None:
        return None if value is None else value.replace("\\", "\\\\").replace("\x00", "\\0")

    def python_value(self, value: str | None) -> str | None:
        if value is None or "\\" not in value:  # nothing escaped: most text
            return value
        return _UNESCAPE.sub(_unescape, value)


_UNESCAPE = re.compile(r"\\(\\|0)")


def _unescape(match: re.Match[str]) -> str:
    return "\x00" if match.group(1) == "0" else "\\"


class TimestampField(peewee.BigIntegerField):
    """An aware UTC datetime stored as integer microseconds since the epoch.

    Integers sort and compare the same on every engine, which keyset paging and lease expiry
    rely on; strings of datetimes do not (their precision varies with the value).
    """

    def db_value(self, value: datetime | int | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        return round(value.timestamp() * 1_000_000)

    def python_value(self, value: int | None) -> datetime | None:
        if value is None:
            return None
        return datetime.fromtimestamp(value / 1_000_000, tz=UTC)
