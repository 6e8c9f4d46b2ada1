"""The base of every model: the one database, and lookups by primary key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Self

import peewee

from models.db import db
from models.errors import NotFound


class BaseModel(peewee.Model):
    #: What `existing` raises for a missing row; each model names its own.
    not_found: ClassVar[type[NotFound]] = NotFound

    class Meta:
        database = db
        legacy_table_names = False

    @classmethod
    def existing(cls, ident: str) -> Self:
        """The row with this primary key, or the model's `not_found` error."""
        row = cls.by_key(ident)
        if row is None:
            raise cls.not_found(ident)
        return row

    @classmethod
    def by_key(cls, ident: str) -> Self | None:
        """The row with this primary key, or None: `get_or_none` on the key, built once per
        model and engine, the row read straight into the model.

        Peewee would build the same SQL on every call, and its cursor wrapper maps columns to
        fields from the cursor's description on every query (psycopg builds a Column object per
        column on each access): both showed in the profiles of docs/performance.md. The columns
        here are the model's fields in the order the query names them, so neither is needed."""
        key = (cls, type(db.obj))
        plan = _BY_KEY.get(key)
        if plan is None:
            fields = cls._meta.sorted_fields
            query = cls.select(*fields).where(cls._meta.primary_key == "").limit(1)
            columns = tuple((f.name, f.python_value) for f in fields)
            plan = _BY_KEY[key] = (query.sql()[0], columns)
        sql, columns = plan
        field = cls._meta.primary_key
        assert isinstance(field, peewee.Field)
        key_value = field.db_value(ident)  # type: ignore[no-untyped-call]
        rows = db.execute_sql(sql, (key_value, 1)).fetchall()
        if not rows:
            return None
        (found,) = rows
        values = {name: convert(v) for (name, convert), v in zip(columns, found, strict=True)}
        row = cls(__no_default__=1, **values)
        row._dirty.clear()  # type: ignore[attr-defined]  # nothing dirty, as peewee's reads
        return row


#: Per model and engine: the lookup's SQL, and each column's field name and converter.
_BY_KEY: dict[tuple[type, type], tuple[str, tuple[tuple[str, Callable[[Any], Any]], ...]]] = {}
