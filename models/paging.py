"""Newest-first keyset paging on (created_at, id), with an opaque cursor."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import peewee

from models.errors import BadRequest
from models.fields import TimestampField

_TS = TimestampField()


def keyset_page(
    query: peewee.Select, model: Any, limit: int | None, cursor: str | None
) -> tuple[list[Any], str | None]:
    """Rows of `query` newest first. No limit and no cursor: all of them, as the reference does.

    The cursor names the last row handed out; the next page starts strictly after it, so rows
    inserted meanwhile never shift or repeat a page (no OFFSET). The condition is one row-value
    comparison on the ordering columns, so an index on (created_at, id), after any equality
    filter's columns, answers a page as a seek however deep it is (tests/models/test_plans.py).
    """
    if cursor is not None:
        micros, ident = decode_cursor(cursor)
        query = query.where(peewee.Tuple(model.created_at, model.id) < peewee.Tuple(micros, ident))
    query = query.order_by(model.created_at.desc(), model.id.desc())
    if limit is None:
        return model.rows(query), None
    rows = model.rows(query.limit(limit + 1))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(_TS.db_value(last.created_at), last.id)


def encode_cursor(micros: int | None, ident: str) -> str:
    return base64.urlsafe_b64encode(f"{micros}:{ident}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        micros, ident = raw.split(":", 1)
        if not -(2**63) <= int(micros) < 2**63:
            raise ValueError("timestamp out of range")
        return int(micros), ident
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("Invalid cursor: not a cursor this server issued") from exc
