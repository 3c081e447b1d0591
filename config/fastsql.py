"""Plain executemany INSERT for the batch paths (thousands of rows per run).

Django's bulk_create prepares every object field by field; for the 10,000-claim
submission run, and for the audit entries each batch writes, that overhead was most of
the time. Values still go through each field's ``get_db_prep_save``, so they are stored
exactly as the ORM would store them, and every value is a bound parameter.
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
    params = [
        [f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]
        for row in rows
    ]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
