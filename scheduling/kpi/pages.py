"""Scheduling's KPI pages (overview, access, accuracy, capacity), registered at import
together with their drill-downs (``drill``), from SchedulingConfig.ready.

Each builder returns what its template shows; the overview gathers the headline metrics
every registered section lends it, in nav order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import selectors
from .drill import channel_param, local_time
from .filters import KpiFilters
from .metrics import Metric
from .overbooking import overbooking_metric, overbooking_table
from .registry import Section, section_register, sections
from .svg import bar_chart
from .tables import Page, Table, counted, drill_url


def _access(f: KpiFilters) -> Page:
    summary = selectors.access_summary(f)
    return Page(
        metrics=summary.metrics,
        charts=[
            ("Calls per day", bar_chart(summary.calls_per_day, title="Calls per day")),
            ("Bookings per day", bar_chart(summary.bookings_per_day, title="Bookings per day")),
        ],
        tables=[
            Table(
                "by_agent",
                "Calls by agent",
                [
                    ("Agent", "agent", "text"),
                    ("Calls", "calls", "count"),
                    ("Average handle time", "aht_seconds", "seconds"),
                    ("Calls that booked", "booked", "count"),
                    ("Booked share", "booked_share", "percent"),
                ],
                summary.agents,
                link=lambda r: drill_url("calls", replace(f, agent_id=r["agent_id"])),
                link_label=lambda r: counted(r["calls"], "call"),
            ),
            Table(
                "by_channel",
                "Bookings by channel",
                [
                    ("Channel", "label", "text"),
                    ("Bookings", "bookings", "count"),
                    ("Share", "share", "percent"),
                ],
                summary.channels,
                link=lambda r: drill_url("bookings", f, channel=channel_param(r["channel"])),
                link_label=lambda r: counted(r["bookings"], "booking"),
            ),
        ],
    )


def _accuracy(f: KpiFilters) -> Page:
    summary = selectors.accuracy_summary(f)
    breakdown = summary.mismatch_kinds
    return Page(
        metrics=summary.metrics,
        tables=[
            Table(
                "by_location",
                "Accuracy by location (bookings created in the period)",
                [
                    ("Location", "location", "text"),
                    ("Bookings", "bookings", "count"),
                    ("Wrong-location", "wrong", "count"),
                    ("Wrong-location rate", "wrong_rate", "percent"),
                    ("Now cancelled", "cancelled", "count"),
                    ("Now rescheduled", "rescheduled", "count"),
                    ("No-shows", "no_show", "count"),
                ],
                summary.by_location,
                link=lambda r: drill_url(
                    "wrong_location", replace(f, location_id=r["location_id"])
                ),
                link_label=lambda r: counted(r["wrong"], "wrong-location booking"),
            ),
            Table(
                "mismatch_kinds",
                "Provider-patient mismatches by kind (a booking can have several)",
                [("Kind", "kind", "text"), ("Bookings", "count", "count")],
                [
                    {"kind": "Age outside the provider's range", "count": breakdown["age"]},
                    {"kind": "No shared language", "count": breakdown["language"]},
                    {"kind": "Cancelled as wrong provider", "count": breakdown["wrong_provider"]},
                ],
                link=lambda r: drill_url("mismatch", f),
                link_label=lambda r: "all mismatched bookings",
            ),
        ],
    )


def _capacity(f: KpiFilters) -> Page:
    by_day = selectors.utilization_by_day(f)
    tna = selectors.third_next_available(f)
    chart_title, chart_rows = "Slot utilization per day", by_day
    if not any(r["slots"] for r in by_day):
        # A past period has no slots (they are materialized forward): an empty chart says
        # nothing, the fill of the schedule ahead is what an ops manager acts on.
        chart_title = (
            f"Schedule fill per day, next {selectors.SCHEDULE_FILL_DAYS} days "
            "(no slots in the chosen period)"
        )
        chart_rows = selectors.schedule_fill_by_day(f)
    return Page(
        metrics=[*selectors.capacity_metrics(f), overbooking_metric(f)],
        charts=[
            (
                chart_title,
                bar_chart(
                    [(r["day"], r["utilization"]) for r in chart_rows],
                    title=chart_title,
                    unit="percent",
                    max_value=100,
                ),
            )
        ],
        tables=[
            Table(
                "third_available",
                "Third next available appointment (as of now)",
                [
                    ("Appointment type", "appointment_type", "text"),
                    ("Location", "location", "text"),
                    ("Third free slot", "third_start", "text"),
                    ("Days out", "days_out", "days"),
                    ("Note", "note", "text"),
                ],
                [
                    {**t.__dict__, "third_start": local_time(t.third_start, t.time_zone)}
                    if t.third_start
                    else t.__dict__
                    for t in tna
                ],
                link=lambda r: drill_url(
                    "free_slots",
                    replace(
                        f,
                        location_id=r["location_id"],
                        appointment_type_id=r["appointment_type_id"],
                    ),
                ),
                note=selectors.DEF_TNA + " Times are each location's own.",
                link_label=lambda r: "free slots",
                limit=150,
            ),
            _utilization_table(
                "by_location",
                "Utilization by location",
                ("Location", "location__name"),
                selectors.utilization_by_location(f),
                lambda r: drill_url("booked_slots", replace(f, location_id=r["location_id"])),
            ),
            _utilization_table(
                "by_provider",
                "Utilization by provider",
                ("Provider", "provider_name"),
                [
                    {
                        **r,
                        "provider_name": f"{r['provider__last_name']}, {r['provider__first_name']}",
                    }
                    for r in selectors.utilization_by_provider(f)
                ],
                lambda r: drill_url("booked_slots", f, provider=r["provider_id"]),
                limit=100,
            ),
            _utilization_table(
                "by_day",
                "Utilization by day",
                ("Day", "day"),
                by_day,
                lambda r: (
                    drill_url("booked_slots", replace(f, date_from=r["day"], date_to=r["day"]))
                    if r["slots"]
                    else None
                ),
            ),
            overbooking_table(f),
        ],
    )


def _utilization_table(
    key: str,
    title: str,
    label: tuple[str, str],
    rows: list[dict[str, Any]],
    link: Callable[[dict[str, Any]], str | None] | None,
    limit: int | None = None,
) -> Table:
    return Table(
        key,
        title,
        [
            (label[0], label[1], "text"),
            ("Bookable slots", "slots", "count"),
            ("Booked", "booked", "count"),
            ("Utilization", "utilization", "percent"),
        ],
        rows,
        link=link,
        limit=limit,
        link_label=lambda r: counted(r["slots"], "slot"),
    )


def _overview(f: KpiFilters) -> Page:
    metrics: list[Metric] = []
    for section in sections():
        if section.overview_metrics is not None:
            shown = section.overview_keys
            metrics += [m for m in section.overview_metrics(f) if m.key in shown]
    return Page(metrics=metrics)


section_register(Section("overview", "Overview", 0, _overview))
section_register(
    Section(
        "access",
        "Access",
        10,
        _access,
        overview_metrics=selectors.access_metrics,
        overview_keys=frozenset({"calls", "bookings", "fcr", "aht", "automation"}),
    )
)
section_register(
    Section(
        "accuracy",
        "Accuracy",
        20,
        _accuracy,
        # The overview leaves out the mismatch test, the one that joins patients and
        # providers.
        overview_metrics=lambda f: selectors.accuracy_summary(f, with_mismatch=False).metrics,
        overview_keys=frozenset({"wrong_location", "no_show"}),
    )
)
section_register(
    Section(
        "capacity",
        "Capacity",
        30,
        _capacity,
        overview_metrics=selectors.capacity_metrics,
        overview_keys=frozenset({"utilization"}),
    )
)
