"""The shape every KPI takes on a page: value, previous period, definition, drill-down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

NO_DATA = "No data yet"


@dataclass
class Metric:
    key: str
    label: str
    definition: str
    # "count", "percent" (0-100), "seconds", "days", "money"
    unit: str
    value: float | None
    previous: float | None = None
    numerator: int | None = None
    denominator: int | None = None
    # Drill-down key in ``scheduling.kpi.registry.DRILLS``; None when there are no rows to show.
    drill: str | None = None
    drill_params: dict[str, Any] = field(default_factory=dict)
    # Set when the source table has no rows at all (a writer not built yet, or unused).
    no_source: str = ""
    # A caveat shown under the value when the number is right but would mislead on its own.
    note: str = ""
    # Lower is better for error rates, handle time, lags: the trend arrow colours by it.
    lower_is_better: bool = False

    @property
    def delta(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def trend(self) -> str:
        """ "better", "worse" or "flat" against the previous period."""
        delta = self.delta
        # Flat when the change shows as zero (+0.04 pts reads "±0.0 pts"): a colour
        # must never say better or worse about a number that says no change.
        if delta is None or not any(
            ch in "123456789" for ch in format_value(abs(delta), self.unit)
        ):
            return "flat"
        improved = delta < 0 if self.lower_is_better else delta > 0
        return "better" if improved else "worse"


def no_source_note(found: bool, model: Any, what: str) -> str:
    """ "No data yet" when the source table has no rows at all; "" otherwise.

    ``found`` says whether this page's own queries already saw rows, which spares the
    existence probe on every ordinary request.
    """
    if found or model.objects.exists():
        return ""
    return f"{NO_DATA}: {what}"


def rate(numerator: int | None, denominator: int | None) -> float | None:
    """A percentage, or None when there is nothing to divide by (never a made-up 0 %)."""
    if not denominator or numerator is None:
        return None
    return 100.0 * numerator / denominator


def _period_pair(agg: dict[str, Any], name: str) -> tuple[Any, Any]:
    """``(agg["<name>_cur"], agg["<name>_prev"])``; the bare ``cur``/``prev`` when no name."""
    prefix = f"{name}_" if name else ""
    return agg[f"{prefix}cur"], agg[f"{prefix}prev"]


def rate_metric(
    key: str,
    label: str,
    definition: str,
    agg: dict[str, Any],
    *,
    numerator: str,
    denominator: str = "",
    **extra: Any,
) -> Metric:
    """A percentage for this period and the previous one, read from one aggregate.

    Every KPI page aggregates both periods in a single query with ``<name>_cur`` and
    ``<name>_prev`` keys (the total of rows as bare ``cur``/``prev``); this reads the
    pair for ``numerator`` over ``denominator`` so each page states only what differs.
    """
    num_cur, num_prev = _period_pair(agg, numerator)
    den_cur, den_prev = _period_pair(agg, denominator)
    return Metric(
        key,
        label,
        definition,
        "percent",
        rate(num_cur, den_cur),
        rate(num_prev, den_prev),
        numerator=num_cur,
        denominator=den_cur,
        **extra,
    )


def seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    # SQLite hands back averages of durations as microseconds.
    return float(value) / 1_000_000


def days(value: timedelta | float | None) -> float | None:
    secs = seconds(value)
    return None if secs is None else secs / 86_400


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "seconds":
        minutes, secs = divmod(round(value), 60)
        return f"{minutes}:{secs:02d} min"
    if unit == "days":
        return f"{value:.1f} d"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "money":
        return f"${value:,.2f}"
    return f"{value:,.0f}"


def format_delta(metric: Metric) -> str:
    delta = metric.delta
    if delta is None:
        return "no previous data" if metric.value is not None else ""
    sign = "+" if delta > 0 else "\N{MINUS SIGN}" if delta < 0 else "±"
    if metric.trend == "flat":
        sign = "±"
    magnitude = abs(delta)
    if metric.unit == "percent":
        return f"{sign}{magnitude:.1f} pts"
    return f"{sign}{format_value(magnitude, metric.unit)}"
