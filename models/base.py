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
        return cls._read(columns, found)

    @classmethod
    def _read(cls, columns: tuple[tuple[str, Callable[[Any], Any]], ...], found: Any) -> Self:
        """A row as peewee's reads make it (`cls(__no_default__=1, **values)`, nothing dirty),
        without setting each field through its descriptor."""
        row = cls.__new__(cls)
        row.__data__ = {name: convert(v) for (name, convert), v in zip(columns, found, strict=True)}
        row._dirty = set()  # type: ignore[attr-defined]  # peewee sets it in __init__
        row.__rel__ = {}
        return row

    @classmethod
    def rows(cls, query: peewee.Select) -> list[Self]:
        """`list(query)` for a query of whole rows of this model (`cls.select()` with any
        conditions, order and limit), each read as `by_key` reads one."""
        selected = query._returning  # type: ignore[attr-defined]
        fields = cls._meta.sorted_fields
        if len(selected) != len(fields) or any(
            a is not b for a, b in zip(selected, fields, strict=True)
        ):
            return list(query)  # some other selection: peewee's own reading
        columns = tuple((f.name, f.python_value) for f in fields)
        sql, params = query.sql()
        return [cls._read(columns, found) for found in db.execute_sql(sql, params).fetchall()]

    @classmethod
    def insert_row(cls, **values: Any) -> Self:
        """`cls.create(**values)`, the INSERT's SQL built once per model, engine and set of
        fields given (peewee writes it anew on every call: a twentieth of creating a group)."""
        row = cls(**values)
        data = row.__data__
        key = (cls, type(db.obj), tuple(data))
        plan = _INSERTS.get(key)
        if plan is None:
            plan = _INSERTS[key] = _insert_plan(cls, data)
        if not plan:  # peewee wrote a statement of another shape: let it do so every time
            row.save(force_insert=True)
            return row
        sql, fields = plan
        db.execute_sql(sql, [f.db_value(data[f.name]) for f in fields])
        row._dirty.clear()  # type: ignore[attr-defined]  # saved, as save() leaves it
        return row


def _insert_plan(
    model: type[BaseModel], data: dict[str, Any]
) -> tuple[str, tuple[Any, ...]] | tuple[()]:
    """The INSERT peewee writes for these fields, and the fields in its column order; empty
    unless it is the plain `INSERT INTO "table" ("a", "b") VALUES (?, ?)` (a RETURNING
    after it, as on PostgreSQL, is kept)."""
    fields = tuple(sorted((model._meta.fields[name] for name in data), key=lambda f: f._sort_key))
    sql, params = model.insert(**data).sql()
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    head = f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES ('
    if not sql.startswith(head) or len(params) != len(fields):
        return ()
    return sql, fields


#: Per model, engine and fields given: an insert's SQL and its fields in column order.
_INSERTS: dict[tuple[type, type, tuple[str, ...]], tuple[str, tuple[Any, ...]] | tuple[()]] = {}
#: Per model and engine: the lookup's SQL, and each column's field name and converter.
_BY_KEY: dict[tuple[type, type], tuple[str, tuple[tuple[str, Callable[[Any], Any]], ...]]] = {}
