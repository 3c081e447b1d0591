"""KPI · Hubs: the wallboard's measures over any period, per hub, with the calls behind
each figure (a drill-down, CSV like every table). Periods are whole UTC days, as on every
KPI page; the wallboard counts each hub's own day."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db.models import QuerySet

from scheduling.models import Hub, HubCall
from scheduling.selectors.hubs import HubBoard, hub_measures

from .drill import fmt_time, user_name
from .filters import KpiFilters
from .metrics import Metric
from .registry import Column, Drill, Section, drill_register, section_register
from .tables import Page, Table, counted, drill_url


def _boards(f: KpiFilters) -> list[HubBoard]:
    return [hub_measures(hub=h, start=f.start, end=f.end, now=f.end) for h in Hub.objects.all()]


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def hub_metrics(f: KpiFilters) -> list[Metric]:
    now, before = _boards(f), _boards(f.previous())

    def total(boards: list[HubBoard], name: str) -> int:
        return sum(getattr(b, name) for b in boards)

    def share(boards: list[HubBoard], part: str) -> float | None:
        finished = sum(b.answered + b.abandoned + b.callbacks for b in boards)
        return 100 * total(boards, part) / finished if finished else None

    def asa(boards: list[HubBoard]) -> float | None:
        answered = total(boards, "answered")
        return sum(b.wait_total for b in boards) / answered if answered else None

    finished = sum(b.answered + b.abandoned + b.callbacks for b in now)
    return [
        Metric(
            "hub_service_level",
            "Service level (30 s)",
            "Calls answered within 30 s over calls finished (answered, abandoned or left "
            "for a callback), offered in the period.",
            "percent",
            share(now, "answered_in_time"),
            share(before, "answered_in_time"),
            total(now, "answered_in_time"),
            finished,
            drill="hub_calls",
        ),
        Metric(
            "hub_asa",
            "Average speed of answer",
            "Mean seconds from offer to answer, over answered calls.",
            "seconds",
            asa(now),
            asa(before),
            drill="hub_calls",
            lower_is_better=True,
        ),
        Metric(
            "hub_abandonment",
            "Abandonment",
            "Callers who hung up before an answer, over calls finished.",
            "percent",
            share(now, "abandoned"),
            share(before, "abandoned"),
            total(now, "abandoned"),
            finished,
            drill="hub_calls",
            drill_params={"state": 0},
            lower_is_better=True,
        ),
        Metric(
            "hub_overflow",
            "Overflowed calls",
            "Calls offered to another hub's agents after waiting past their hub's limit.",
            "count",
            total(now, "overflow_out"),
            total(before, "overflow_out"),
            drill="hub_calls",
        ),
    ]


def _page(f: KpiFilters) -> Page:
    rows: list[dict[str, Any]] = [
        {
            "hub_id": b.hub.pk,
            "hub": b.hub.name,
            "offered": b.offered,
            "answered": b.answered,
            "service_level": _pct(b.service_level),
            "asa": b.average_speed_of_answer,
            "abandonment": _pct(b.abandonment),
            "callbacks": b.callbacks,
            "overflow_out": b.overflow_out,
            "overflow_in": b.overflow_in,
        }
        for b in _boards(f)
    ]
    return Page(
        metrics=hub_metrics(f),
        tables=[
            Table(
                "by_hub",
                "Calls by hub",
                [
                    ("Hub", "hub", "text"),
                    ("Offered", "offered", "count"),
                    ("Answered", "answered", "count"),
                    ("Service level (30 s)", "service_level", "percent"),
                    ("Average speed of answer", "asa", "seconds"),
                    ("Abandonment", "abandonment", "percent"),
                    ("Callbacks", "callbacks", "count"),
                    ("Overflow out", "overflow_out", "count"),
                    ("Overflow in", "overflow_in", "count"),
                ],
                rows,
                link=lambda r: drill_url("hub_calls", replace(f), hub=r["hub_id"]),
                link_label=lambda r: counted(r["offered"], "call"),
            )
        ],
    )


def _hub_calls(f: KpiFilters, params: dict[str, int]) -> QuerySet[Any]:
    rows = HubCall.objects.filter(offered_at__gte=f.start, offered_at__lt=f.end)
    if "hub" in params:
        rows = rows.filter(hub_id=params["hub"])
    if params.get("state") == 0:
        rows = rows.filter(state=HubCall.State.ABANDONED)
    return rows.select_related("hub", "overflow_hub", "agent").order_by("offered_at", "pk")


def _wait(r: HubCall) -> str:
    if r.answered_at is None or r.offered_at is None:
        return ""
    return f"{max(0.0, (r.answered_at - r.offered_at).total_seconds()):.0f}"


section_register(
    Section(
        "hubs",
        "Hubs",
        40,
        _page,
        overview_metrics=hub_metrics,
        overview_keys=frozenset({"hub_service_level"}),
    )
)
# The caller's number is never a column: these rows are about the queue, not the caller.
drill_register(
    "hub_calls",
    Drill(
        "Hub calls",
        "Calls offered to the hubs in the period, with how each was routed.",
        _hub_calls,
        [
            Column("Call", lambda r: r.pk),
            Column("Offered", lambda r: fmt_time(r.offered_at)),
            Column("Hub", lambda r: r.hub.name if r.hub else ""),
            Column("Urgent line", lambda r: "yes" if r.urgent else ""),
            Column("Outcome", lambda r: r.get_state_display()),
            Column("Wait (s)", _wait),
            Column("Agent", lambda r: user_name(r.agent)),
            Column("Overflowed to", lambda r: r.overflow_hub.name if r.overflow_hub else ""),
        ],
        extra_params=("hub", "state"),
    ),
)
