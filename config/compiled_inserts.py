"""``save()``'s INSERT of one row, compiled once per connection and prepared on the server.

Django builds every INSERT anew (an InsertQuery, its compiler, each column quoted and each
value's placeholder assembled) for the same text each time, and PostgreSQL parses and
plans it anew. An API booking inserts seven or eight rows this way (the hold, the
appointment, its encounter and outbox event, two or three audit entries), and the
building cost more CPU than the values it carried. ``CompiledInserts``, a model mixin,
keeps the statement Django compiled the first time for a model, set of columns and
returned columns, and runs it through ``config.prepared.prepared_cursor``. Each value
still goes through its field's ``pre_save`` and ``get_db_prep_save`` as the compiler does
(encrypted columns are encrypted the same way), returned columns through the compiler's
converters, and the save's signals, transaction handling and errors are Django's own:
only ``_do_insert`` changes. Anything else (another database, prepared statements off,
a raw save, a value that is an expression such as a database default, a statement whose
placeholders are not one plain parameter per column) takes Django's own path.
"""

from __future__ import annotations

from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.sql import InsertQuery

from config.prepared import prepared_cursor, prepared_enabled


class _Plan:
    __slots__ = ("compiler", "converters", "sql")

    def __init__(self, sql: str, compiler: Any, converters: Any) -> None:
        self.sql = sql
        self.compiler = compiler
        self.converters = converters


def _plan(obj: Any, using: str, fields: list[Any], returning: list[Any]) -> _Plan | None:
    query = InsertQuery(type(obj))
    query.insert_values(fields, [obj], raw=False)
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returning
    [(sql, params)] = compiler.as_sql()
    query.objs = []  # the plan outlives this instance
    # One bound parameter per column and nothing else (no expression, no placeholder of
    # a field's own, nothing returned that needs a parameter).
    if len(params) != len(fields) or sql.count("%s") != len(fields) or "%%" in sql:
        return None
    table = type(obj)._meta.db_table
    converters = compiler.get_converters([f.get_col(table) for f in returning])
    return _Plan(sql, compiler, converters)


class CompiledInserts:
    """Model mixin: a single row's INSERT compiled once per connection (see the module)."""

    def _do_insert(
        self, manager: Any, using: str, fields: Any, returning_fields: Any, raw: Any
    ) -> Any:
        connection = connections[using]
        if raw or using != DEFAULT_DB_ALIAS or not prepared_enabled():
            return super()._do_insert(manager, using, fields, returning_fields, raw)  # type: ignore[misc]
        plans: dict[Any, Any] = connection.__dict__.setdefault("_compiled_inserts", {})
        key = (type(self), tuple(fields), tuple(returning_fields or ()))
        plan = plans.get(key, False)
        if plan is False:
            plan = plans[key] = _plan(self, using, list(fields), list(returning_fields or ()))
        values = []
        if plan is not None:
            for field in fields:
                value = field.pre_save(self, True)
                if hasattr(value, "resolve_expression"):
                    plan = None  # a database default or an expression: Django compiles it
                    break
                values.append(field.get_db_prep_save(value, connection))
        if plan is None:
            return super()._do_insert(manager, using, fields, returning_fields, raw)  # type: ignore[misc]
        with prepared_cursor() as cursor:
            cursor.execute(plan.sql, values)
            if not returning_fields:
                return []
            rows = [cursor.fetchone()]
        if plan.converters:
            rows = list(plan.compiler.apply_converters(rows, plan.converters))
        return rows
