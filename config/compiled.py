"""Hot ORM statements of one fixed shape, compiled once per connection, prepared on the server.

An API hold and booking make some twenty small indexed reads (the token, the rows the
request names, the locks) and two updates. For each of them Django spent more CPU
building and compiling the queryset than PostgreSQL spent answering it, and PostgreSQL in
turn spent much of its own time parsing and planning. A ``Compiled`` read (or a
``CompiledUpdate``) is built once with stand-in values for its parameters; each call
swaps the real values in and runs the SQL through ``config.prepared.prepared_cursor``
(parsed once per connection, planned generically once PostgreSQL settles). Rows become
what the queryset would have returned, through Django's own converters and populators:
instances with their ``select_related`` rows and annotations, or ``values_list`` tuples.

The queryset itself runs instead, unchanged, on any database but PostgreSQL (SQLite
binds dates as text, which a swap by value would miss), when prepared statements are off,
and when a stand-in does not come out of the compiler as a parameter of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesListIterable,
    get_related_populators,
)
from django.db.models.sql import UpdateQuery
from django.db.transaction import TransactionManagementError

from config.prepared import prepared_cursor, prepared_enabled

T = TypeVar("T")
# Django 5.2's signature (the stubs describe a later one).
_related_populators: Any = get_related_populators

_serial = itertools.count(1)


def stand_in_id() -> int:
    """A primary or foreign key no row has: negative, and distinct per call."""
    return -9_100_000 - next(_serial)


def stand_in_ids(count: int) -> list[int]:
    """``count`` stand-in ids for an ``__in`` list of exactly that many."""
    return [stand_in_id() for _ in range(count)]


def stand_in_moment() -> datetime:
    """An aware datetime no caller passes (early 1901), distinct per call."""
    return datetime(1901, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_serial))


class CompiledByLength(Generic[T]):
    """A ``Compiled`` read (or, with ``kind=CompiledUpdate``, update) per length of its
    one list parameter ``ids_name``: the SQL of ``field__in=[...]`` has one placeholder
    per item."""

    def __init__(
        self,
        build: Callable[..., Any],
        ids_name: str,
        *,
        kind: type[Compiled[Any]] | type[CompiledUpdate] | None = None,
        **stand_ins: Any,
    ) -> None:
        self._build = build
        self._ids_name = ids_name
        self._kind = kind or Compiled
        self._stand_ins = stand_ins
        self._by_length: dict[int, Any] = {}

    def _for(self, values: dict[str, Any]) -> Any:
        length = len(values[self._ids_name])
        compiled = self._by_length.get(length)
        if compiled is None:
            compiled = self._by_length[length] = self._kind(
                self._build, **self._stand_ins, **{self._ids_name: stand_in_ids(length)}
            )
        return compiled

    def rows(self, **values: Any) -> list[T]:
        rows: list[T] = self._for(values).rows(**values)
        return rows

    def first(self, **values: Any) -> T | None:
        found = self.rows(**values)
        return found[0] if found else None

    def run(self, **values: Any) -> int:
        count: int = self._for(values).run(**values)
        return count


K = TypeVar("K")


class CompiledPer(Generic[K, T]):
    """One ``Compiled`` read per key, made by ``make(key)`` the first time the key is
    asked for: for what the SQL writes in rather than binds (a LIMIT, a model, which
    filters a shape has)."""

    def __init__(self, make: Callable[[K], Compiled[T]]) -> None:
        self._make = make
        self._by_key: dict[K, Compiled[T]] = {}

    def __call__(self, key: K) -> Compiled[T]:
        compiled = self._by_key.get(key)
        if compiled is None:
            compiled = self._by_key[key] = self._make(key)
        return compiled


class _StandIns:
    """What a compiled read and a compiled update share: stand-ins found among the
    compiled parameters, and the real values put in their place."""

    def __init__(self, build: Callable[..., Any], **stand_ins: Any) -> None:
        self._build = build
        self._stand_ins = stand_ins

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self  # shared: what it keeps is per connection, never per copy

    @staticmethod
    def _plans(connection: Any) -> dict[Any, Any]:
        # Per connection object: each thread has its own, and a compiler keeps it.
        plans: dict[Any, Any] = connection.__dict__.setdefault("_compiled_plans", {})
        return plans

    def _names(self, params: Any) -> tuple[str | tuple[str, int] | None, ...] | None:
        """Per parameter: the stand-in it carries (a name, or a name and an index into a
        list of them), or None; None in all when a stand-in is not a parameter of its own."""
        names = tuple(self._stand_in_name(p) for p in params)
        found = {n if isinstance(n, str) else n[0] for n in names if n is not None}
        items = {n for n in names if isinstance(n, tuple)}
        wanted = sum(len(v) for v in self._stand_ins.values() if isinstance(v, list))
        if set(self._stand_ins) - found or len(items) != wanted:
            return None
        return names

    def _stand_in_name(self, param: Any) -> str | tuple[str, int] | None:
        for name, stand_in in self._stand_ins.items():
            if isinstance(stand_in, list):
                for i, item in enumerate(stand_in):
                    if type(param) is type(item) and param == item:
                        return name, i
            elif type(param) is type(stand_in) and param == stand_in:
                return name
        return None

    @staticmethod
    def _swap(
        names: tuple[str | tuple[str, int] | None, ...], params: tuple[Any, ...], values: Any
    ) -> list[Any]:
        return [
            p if name is None else values[name] if type(name) is str else values[name[0]][name[1]]
            for name, p in zip(names, params, strict=True)
        ]


class CompiledUpdate(_StandIns):
    """``queryset.update(**changes)`` of one fixed shape, compiled once per connection:
    ``build(**stand_ins)`` returns the queryset and the changes, ``run(**values)`` the
    number of rows updated. One table only (no multi-table or parent updates); the ORM
    runs it otherwise, and on any database but PostgreSQL."""

    _model: Any = None

    def run(self, **values: Any) -> int:
        if self._model is None:
            self._model = self._build(**self._stand_ins)[0].model
        alias = router.db_for_write(self._model)
        connection = connections[alias]
        plans = self._plans(connection)
        plan = plans.get(self, False)
        if plan is False:
            queryset, changes = self._build(**self._stand_ins)
            plan = plans[self] = self._plan(queryset.using(alias), changes, connection)
        if plan is None:
            queryset, changes = self._build(**values)
            count: int = queryset.using(alias).update(**changes)
            return count
        sql, params, names = plan
        with transaction.mark_for_rollback_on_error(using=alias), prepared_cursor() as cursor:
            cursor.execute(sql, self._swap(names, params, values))
            rowcount: int = cursor.rowcount
            return rowcount

    def _plan(
        self, queryset: QuerySet[Any], changes: dict[str, Any], connection: Any
    ) -> tuple[str, tuple[Any, ...], Any] | None:
        if connection.vendor != "postgresql" or not prepared_enabled():
            return None
        # What QuerySet.update builds, when it has no ordering to inline.
        query: Any = queryset.query.chain(UpdateQuery)
        query.add_update_values(changes)
        query.annotations = {}
        if query.order_by or query.related_updates or query.count_active_tables() > 1:
            return None
        sql, params = query.get_compiler(queryset.db).as_sql()
        names = self._names(params)
        return None if names is None else (sql, tuple(params), names)


@dataclass
class _Plan:
    sql: str
    params: tuple[Any, ...]
    names: tuple[str | tuple[str, int] | None, ...]  # see _StandIns._names
    compiler: Any
    converters: dict[int, Any]
    kind: type
    for_update: bool
    init_list: list[str]
    model_slice: slice
    populators: list[Any]
    annotations: dict[str, int]


class Compiled(_StandIns, Generic[T]):
    """``build(**stand_ins)`` compiled once per connection; ``rows(**values)`` runs it with
    the real values. ``build`` must return a queryset whose SQL depends only on the
    values' positions, never on the values (no ``None`` lookups). A list stand-in
    (``stand_in_ids``) stands for an ``__in`` list of its length, and the value passed
    for it must have that length: ``CompiledByLength`` keeps one per length."""

    def __init__(self, build: Callable[..., QuerySet[Any]], **stand_ins: Any) -> None:
        super().__init__(build, **stand_ins)
        self._model: Any = None
        self._for_write = False

    def rows(self, **values: Any) -> list[T]:
        if self._model is None:
            built = self._build(**self._stand_ins)
            self._model, self._for_write = built.model, built._for_write
        # Where the queryset would run (QuerySet.db): the router may send reads elsewhere.
        route = router.db_for_write if self._for_write else router.db_for_read
        alias = route(self._model)
        connection = connections[alias]
        plans = self._plans(connection)
        plan = plans.get(self, False)
        if plan is False:
            queryset = self._build(**self._stand_ins).using(alias)
            if queryset.query.select_for_update and connection.get_autocommit():
                return list(self._build(**values).using(alias))  # Django's own error
            plan = plans[self] = self._plan(queryset, connection)
        if plan is None:
            return list(self._build(**values).using(alias))
        if plan.for_update and connection.get_autocommit():  # as the compiler checks
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        with prepared_cursor() as cursor:
            cursor.execute(plan.sql, self._swap(plan.names, plan.params, values))
            fetched = cursor.fetchall()
        compiler = plan.compiler
        if compiler.has_extra_select:
            fetched = [row[: compiler.col_count] for row in fetched]
        rows = compiler.apply_converters(fetched, plan.converters) if plan.converters else fetched
        if plan.kind is FlatValuesListIterable:
            return [row[0] for row in rows]
        if plan.kind is ValuesListIterable:
            return [cast(T, tuple(row)) for row in rows]
        return [self._instance(plan, alias, row) for row in rows]

    def first(self, **values: Any) -> T | None:
        found = self.rows(**values)
        return found[0] if found else None

    @staticmethod
    def _instance(plan: _Plan, db: str, row: Any) -> Any:
        obj = plan.compiler.klass_info["model"].from_db(db, plan.init_list, row[plan.model_slice])
        for populator in plan.populators:
            populator.populate(row, obj)
        for name, position in plan.annotations.items():
            setattr(obj, name, row[position])
        return obj

    def _plan(self, queryset: QuerySet[Any], connection: Any) -> _Plan | None:
        if connection.vendor != "postgresql" or not prepared_enabled():
            return None
        inner: Any = queryset  # the queryset's own attributes, as its iterables read them
        kind = inner._iterable_class
        if kind not in (ModelIterable, ValuesListIterable, FlatValuesListIterable):
            return None
        query = queryset.query
        if kind is not ModelIterable:
            # values_list reorders the columns unless they come out as asked (expressions
            # last), as ValuesListIterable checks.
            columns = [*query.extra_select, *query.values_select, *query.annotation_select]
            asked = [
                *inner._fields,
                *(f for f in query.annotation_select if f not in inner._fields),
            ]
            if inner._fields and asked != columns:
                return None
        if inner._known_related_objects or inner._prefetch_related_lookups:
            return None
        compiler = query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        names = self._names(params)
        if names is None:
            return None
        select = compiler.select
        fields = [s[0] for s in select[: compiler.col_count]]
        plan = _Plan(
            sql=sql,
            params=tuple(params),
            names=names,
            compiler=compiler,
            converters=compiler.get_converters(fields),
            kind=kind,
            for_update=bool(query.select_for_update),
            init_list=[],
            model_slice=slice(0, 0),
            populators=[],
            annotations={},
        )
        if kind is ModelIterable:
            klass_info = compiler.klass_info
            start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
            plan.init_list = [f[0].target.attname for f in select[start:end]]
            plan.model_slice = slice(start, end)
            plan.populators = _related_populators(klass_info, select, queryset.db)
            plan.annotations = dict(compiler.annotation_col_map or {})
        return plan
