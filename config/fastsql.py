"""Plain executemany INSERT and UPDATE for the batch paths (thousands of rows per run).

Django's bulk_create prepares every object field by field, and its bulk_update builds a
CASE per row and column; for the 10,000-claim submission run, for the audit entries each
batch writes, and for a run of ADT^A08 updating patients (each changed encrypted column
brings its blind indexes along, so two or three CASEs per change), that overhead was
most of the time. Values still go through each field's ``get_db_prep_save``, so they
are stored exactly as the ORM would store them (encrypted columns encrypted), and every
value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection
from django.db.models import Field, Model


def model_fields(model: type[Model], names: Sequence[str]) -> list[Field]:
    return [model._meta.get_field(n) for n in names]  # type: ignore[misc]


def insert_rows(model: type[Model], names: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    fields = model_fields(model, names)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
    # Every field type written here stores None as NULL (JSON fields too, as Django's own
    # get_db_prep_save says): an audit entry leaves half of its twenty columns empty.
    params = [
        [
            None if v is None else f.get_db_prep_save(v, connection)
            for f, v in zip(fields, row, strict=True)
        ]
        for row in rows
    ]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def update_rows(
    model: type[Model], names: Sequence[str], rows: Iterable[tuple[Any, Sequence[Any]]]
) -> None:
    """rows: (pk, values in ``names`` order)."""
    fields = model_fields(model, names)
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE id = %s"  # noqa: S608
    params = [
        [*(f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)), pk]
        for pk, values in rows
    ]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def values_of(obj: Model, names: Sequence[str]) -> list[Any]:
    """An instance's values for ``names`` as stored (foreign keys as ids)."""
    return [getattr(obj, f.attname) for f in model_fields(type(obj), names)]
