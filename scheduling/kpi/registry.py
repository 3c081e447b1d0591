"""The KPI pages as a registry of sections and drill-downs.

Scheduling registers its own sections (overview, access, accuracy, capacity) and the
drill-downs behind them; an app higher up registers its section and drills from its
AppConfig.ready (billing's revenue page, integrations' health page), so scheduling never
imports the apps above it. Every app's ready() runs before the first request, so the
registry is complete by the time a page is built.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet

from .filters import KpiFilters
from .metrics import Metric

if TYPE_CHECKING:
    from .tables import Page


@dataclass(frozen=True)
class Column:
    header: str
    get: Callable[[Any], Any]
    phi: bool = False


@dataclass(frozen=True)
class Drill:
    title: str
    what: str
    rows: Callable[[KpiFilters, dict[str, int]], QuerySet[Any]]
    columns: list[Column]
    # Attribute path from a row to its patient id, for the access audit.
    patient_id: Callable[[Any], int | None] | None = None
    extra_params: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class Section:
    """One KPI page: ``/kpi/<key>/``, listed in the nav by ``position``."""

    key: str
    title: str
    # Smaller first; the overview is 0, scheduling's pages 10-30, the apps above later.
    position: int
    build: Callable[[KpiFilters], Page]
    # The metrics this section lends the overview, and which of their keys it shows.
    overview_metrics: Callable[[KpiFilters], list[Metric]] | None = None
    overview_keys: frozenset[str] = frozenset()


SECTIONS: dict[str, Section] = {}
DRILLS: dict[str, Drill] = {}


def section_register(section: Section) -> None:
    """Add a page. Registering the same key twice is a wiring mistake, so it raises."""
    if section.key in SECTIONS:
        raise ValueError(f"KPI section {section.key!r} is registered twice")
    SECTIONS[section.key] = section


def drill_register(key: str, drill: Drill) -> None:
    if key in DRILLS:
        raise ValueError(f"KPI drill-down {key!r} is registered twice")
    DRILLS[key] = drill


def sections() -> list[Section]:
    """The pages in nav order."""
    return sorted(SECTIONS.values(), key=lambda s: s.position)
