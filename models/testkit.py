"""Test mode's shared state beside the clock (docs/behaviour.md §13.7, §13.8, §13.4): stubs,
the journal of exchanges and the fault-rate draw counter. In the database, so that every
worker of every instance on it sees one set: a stub is consumed by exactly one request, the
journal has one order, the nth draw is the nth whoever makes it.

Not migrations: the tables exist only in databases a test-mode server has used (made by
`create_tables`, under the start-up lock), and only test mode reads them.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import peewee

from models import clock
from models.base import BaseModel
from models.db import db
from models.fields import ExactText, JSONField, TimestampField


class TestStub(BaseModel):
    """A canned answer for an operation (and, optionally, only for paths matching `path`)."""

    __test__ = False  # not a pytest class
    seq = peewee.AutoField()  # the order stubs are tried in: the oldest first
    id = peewee.TextField(unique=True)
    operation_id = peewee.TextField()
    path = ExactText(null=True)
    calls_left = peewee.IntegerField(null=True)  # null: every call
    answer = JSONField()  # {"delayMs", "response", "fault"} as checked by app/testmode/stubs.py
    created_at = TimestampField()


class TestExchange(BaseModel):
    """One request and its answer, as the journal shows it (`record` is the whole object but
    its sequence number)."""

    __test__ = False
    sequence = peewee.AutoField()
    operation_id = peewee.TextField(null=True)
    method = peewee.TextField()
    path = ExactText()
    status = peewee.IntegerField()
    record = JSONField()


class TestCounter(BaseModel):
    """Named counters; `fault_draws` numbers ALIEN_TEST_FAULT_RATE's draws."""

    __test__ = False
    name = peewee.TextField(primary_key=True)
    value = peewee.BigIntegerField(default=0)


TABLES = (TestStub, TestExchange, TestCounter)
FAULT_DRAWS = "fault_draws"


def create_tables() -> None:
    db.create_tables(TABLES, safe=True)
    TestCounter.insert(name=FAULT_DRAWS, value=0).on_conflict_ignore().execute()


def reset() -> None:
    """No stubs, an empty journal (sequences go on), draws from the first again: part of a
    test-mode reset's transaction."""
    TestStub.delete().execute()
    TestExchange.delete().execute()
    TestCounter.update(value=0).execute()


# -- stubs -------------------------------------------------------------------------------------


def add_stub(operation_id: str, path: str | None, times: int | None, answer: Any) -> str:
    ident = f"stub_{secrets.token_hex(8)}"
    TestStub.create(
        id=ident, operation_id=operation_id, path=path, calls_left=times, answer=answer,
        created_at=clock.now(),
    )  # fmt: skip
    return ident


def stubs() -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "operationId": s.operation_id,
            "path": s.path,
            "callsLeft": s.calls_left,
            **s.answer,
        }  # fmt: skip
        for s in TestStub.select().order_by(TestStub.seq)
    ]


def remove_stub(ident: str) -> bool:
    return bool(TestStub.delete().where(TestStub.id == ident).execute())


def take_stub(operation_id: str, path: str, matches: Any) -> Any:
    """The answer of the oldest live stub for this operation whose path `matches(stub_path,
    path)`, one call of it consumed; None when no stub applies.

    No transaction: a stub with calls left is taken by one conditional UPDATE, which one
    request wins on every engine (SQLite runs one writer at a time; PostgreSQL re-checks the
    condition on the row it locked), so a stub for one call answers exactly one request."""
    live = TestStub.calls_left.is_null() | (TestStub.calls_left > 0)
    candidates = (
        TestStub.select(TestStub.seq, TestStub.path, TestStub.calls_left, TestStub.answer)
        .where((TestStub.operation_id == operation_id) & live)
        .order_by(TestStub.seq)
    )
    for stub in candidates:
        if not matches(stub.path, path):
            continue
        if stub.calls_left is None:
            return stub.answer
        taken = (
            TestStub.update(calls_left=TestStub.calls_left - 1)
            .where((TestStub.seq == stub.seq) & (TestStub.calls_left > 0))
            .execute()
        )
        if taken:
            return stub.answer
    return None


# -- the journal -------------------------------------------------------------------------------


def journal(record: dict[str, Any]) -> int:
    """Keep one exchange; its sequence number."""
    sequence: int = TestExchange.insert(
        operation_id=record["operationId"], method=record["method"], path=record["path"],
        status=record["response"]["status"], record=record,
    ).execute()  # fmt: skip
    return sequence


def exchanges(
    *,
    operation_id: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
    since: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """The journal in arrival order, after sequence `since`, at most `limit` of them."""
    query = TestExchange.select(TestExchange.sequence, TestExchange.record).where(
        TestExchange.sequence > since
    )
    if operation_id is not None:
        query = query.where(TestExchange.operation_id == operation_id)
    if method is not None:
        query = query.where(TestExchange.method == method)
    if path is not None:
        query = query.where(TestExchange.path == path)
    if status is not None:
        query = query.where(TestExchange.status == status)
    rows: Any = query.order_by(TestExchange.sequence).limit(limit).tuples()
    return [{**record, "sequence": sequence} for sequence, record in rows]


def clear_journal() -> int:
    return int(TestExchange.delete().execute())


# -- fault draws -------------------------------------------------------------------------------


def draw() -> float:
    """The next of one sequence of numbers in [0, 1) shared by every worker and instance: the
    nth draw (from the start or the last reset) is the same number whoever makes it."""
    with db.atomic():
        TestCounter.update(value=TestCounter.value + 1).where(
            TestCounter.name == FAULT_DRAWS
        ).execute()
        n: int = (
            TestCounter.select(TestCounter.value).where(TestCounter.name == FAULT_DRAWS).scalar()
        )
    digest = hashlib.sha256(f"alien-fault-draw:{n}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def arrival(duration_seconds: float) -> datetime:
    """When an exchange that has taken `duration_seconds` so far began, on the server clock."""
    return clock.now() - timedelta(seconds=duration_seconds)
