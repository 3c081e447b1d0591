"""Claiming UPDATE ... RETURNING for the batch paths (the plain executemany UPDATE is
``config.fastsql.update_rows``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Model

from config.fastsql import model_fields


def claim_rows(
    model: type[Model], ids: Sequence[int], *, name: str, value: Any, where: dict[str, Any]
) -> list[int]:
    """Set ``name`` = ``value`` on the rows among ``ids`` where it is still NULL (and the
    ``where`` columns match); returns the ids this caller changed.

    One ``UPDATE ... RETURNING`` per chunk (PostgreSQL, SQLite >= 3.35): the database
    decides which caller wins each row, so two concurrent callers never both get it.
    """
    field = model_fields(model, [name])[0]
    extra = model_fields(model, list(where))
    quote = connection.ops.quote_name
    conds = "".join(f" AND {quote(str(f.column))} = %s" for f in extra)
    col = quote(str(field.column))
    won: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            marks = ", ".join(["%s"] * len(chunk))
            sql = (
                f"UPDATE {quote(model._meta.db_table)} SET {col} = %s "  # noqa: S608
                f"WHERE id IN ({marks}) AND {col} IS NULL{conds} RETURNING id"
            )
            params = [
                field.get_db_prep_save(value, connection),
                *chunk,
                *(
                    f.get_db_prep_save(v, connection)
                    for f, v in zip(extra, where.values(), strict=True)
                ),
            ]
            cursor.execute(sql, params)
            won.extend(row[0] for row in cursor.fetchall())
    return sorted(won)
