"""What a KPI page shows: tables with their drill-down links, and the cells they print."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.urls import reverse

from .filters import KpiFilters
from .metrics import Metric, format_value


@dataclass
class Table:
    key: str
    title: str
    # (header, row key, unit): unit as in ``format_value``, or "text".
    columns: list[tuple[str, str, str]]
    rows: list[dict[str, Any]]
    link: Callable[[dict[str, Any]], str | None] | None = None
    note: str = ""
    limit: int | None = None
    # What the drill-down link lists ("12 calls"), so the link says where it goes.
    link_label: Callable[[dict[str, Any]], str] | None = None

    def cells(self) -> list[tuple[list[str], str | None, str]]:
        shown = self.rows[: self.limit] if self.limit else self.rows
        return [
            (
                [page_cell(row.get(key), unit) for _, key, unit in self.columns],
                self._link(row),
                self.link_label(row) if self.link_label else "details",
            )
            for row in shown
        ]

    def _link(self, row: dict[str, Any]) -> str | None:
        return self.link(row) if self.link else None

    @property
    def truncated(self) -> bool:
        return bool(self.limit and len(self.rows) > self.limit)


@dataclass
class Page:
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def page_cell(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "text":
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return str(value)
    if isinstance(value, Decimal):
        value = float(value)
    return format_value(value, unit)


def counted(n: int | None, noun: str, plural: str | None = None) -> str:
    """ "1 call", "12 calls", "1,204 slots": a drill link named by what it lists."""
    n = n or 0
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def csv_cell(value: Any) -> Any:
    """CSV cells: raw numbers (no units), ISO dates, blanks for missing values."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def drill_url(key: str, f: KpiFilters, **params: Any) -> str:
    return f"{reverse('kpi:drill', args=[key])}?{f.query(**params)}"
