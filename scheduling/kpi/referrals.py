"""The referrals KPI page: how many referrals arrived, how many were booked, and how long
a referred patient waited for the appointment that answered the referral."""

from __future__ import annotations

from datetime import timedelta
from statistics import median
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from scheduling.models import Referral

from .drill import PATIENT_ID, PATIENT_NAME, fmt_time
from .filters import KpiFilters
from .metrics import Metric
from .registry import Column, Drill, Section, drill_register, section_register
from .selectors.scoping import in_period
from .tables import Page, Table, counted, drill_url

# A referral waiting longer than this is shown as overdue: two weeks is the usual promise
# of a specialist office to the referring clinician.
STALE_AFTER = timedelta(days=14)
DAY = 86400.0


def referrals_scoped(f: KpiFilters) -> QuerySet[Referral]:
    qs = Referral.objects.filter(in_period("received_at", f))
    if f.appointment_type_id:
        qs = qs.filter(appointment_type_id=f.appointment_type_id)
    if f.location_id:
        qs = qs.filter(appointment__location_id=f.location_id)
    elif f.region_id:
        qs = qs.filter(appointment__location__region_id=f.region_id)
    return qs


def _days(rows: list[tuple[Any, Any]]) -> float | None:
    spans = [(end - start).total_seconds() / DAY for start, end in rows if start and end]
    return round(median(spans), 1) if spans else None


def _figures(f: KpiFilters) -> dict[str, Any]:
    rows = list(
        referrals_scoped(f).values_list(
            "status", "received_at", "booked_at", "appointment__start", "appointment_type__name"
        )
    )
    booked = [r for r in rows if r[0] == Referral.Status.BOOKED]
    return {
        "received": len(rows),
        "booked": len(booked),
        "to_booking": _days([(r[1], r[2]) for r in booked]),
        "to_visit": _days([(r[1], r[3]) for r in booked]),
        "rows": rows,
    }


def referral_metrics(f: KpiFilters) -> list[Metric]:
    now, prev = _figures(f), _figures(f.previous())

    def share(x: dict[str, Any]) -> float | None:
        return round(100 * x["booked"] / x["received"], 1) if x["received"] else None

    stale = Referral.objects.filter(
        status=Referral.Status.OPEN, received_at__lt=timezone.now() - STALE_AFTER
    ).count()
    return [
        Metric(
            "referrals",
            "Referrals received",
            "Referrals received in the period.",
            "count",
            now["received"],
            prev["received"],
            drill="referrals",
        ),
        Metric(
            "referral_booked",
            "Referrals booked",
            "Share of the period's referrals answered by a booking.",
            "percent",
            share(now),
            share(prev),
            numerator=now["booked"],
            denominator=now["received"],
            drill="referrals",
        ),
        Metric(
            "referral_to_appointment",
            "Referral to appointment",
            "Median days from a referral's arrival to the start of the appointment that "
            "answered it, over the period's booked referrals.",
            "days",
            now["to_visit"],
            prev["to_visit"],
            drill="referrals",
            lower_is_better=True,
        ),
        Metric(
            "referral_to_booking",
            "Referral to booking",
            "Median days from a referral's arrival to its booking.",
            "days",
            now["to_booking"],
            prev["to_booking"],
            drill="referrals",
            lower_is_better=True,
        ),
        Metric(
            "referrals_stale",
            "Referrals waiting over 14 days",
            "Referrals still waiting whose arrival was more than 14 days ago (now, not "
            "the period).",
            "count",
            stale,
            None,
            lower_is_better=True,
        ),
    ]


def _page(f: KpiFilters) -> Page:
    rows = _figures(f)["rows"]
    by_type: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_type.setdefault(row[4], []).append(row)
    table = [
        {
            "type": name,
            "received": len(group),
            "booked": sum(1 for r in group if r[0] == Referral.Status.BOOKED),
            "to_visit": _days([(r[1], r[3]) for r in group if r[0] == Referral.Status.BOOKED]),
        }
        for name, group in sorted(by_type.items())
    ]
    return Page(
        metrics=referral_metrics(f),
        tables=[
            Table(
                "by_type",
                "Referrals by visit type",
                [
                    ("Visit type", "type", "text"),
                    ("Received", "received", "count"),
                    ("Booked", "booked", "count"),
                    ("Median days to appointment", "to_visit", "days"),
                ],
                table,
                link=lambda r: drill_url("referrals", f),
                link_label=lambda r: counted(r["received"], "referral"),
            )
        ],
    )


def _drill_rows(f: KpiFilters, _: dict[str, int]) -> QuerySet[Referral]:
    return (
        referrals_scoped(f)
        .select_related("appointment_type", "appointment__location", "patient")
        .order_by("-received_at", "-pk")
    )


def _days_to_visit(r: Referral) -> Any:
    if r.appointment is None or r.booked_at is None:
        return ""
    return round((r.appointment.start - r.received_at).total_seconds() / DAY, 1)


section_register(
    Section(
        "referrals",
        "Referrals",
        35,
        _page,
        overview_metrics=referral_metrics,
        overview_keys=frozenset({"referral_to_appointment"}),
    )
)
drill_register(
    "referrals",
    Drill(
        "Referrals",
        "Referrals received in the period.",
        _drill_rows,
        [
            Column("Referral", lambda r: r.pk),
            Column("Received", lambda r: fmt_time(r.received_at)),
            Column("Type", lambda r: r.appointment_type.name),
            Column("Priority", lambda r: r.get_priority_display()),
            Column("Source", lambda r: r.get_source_display()),
            Column("Status", lambda r: r.get_status_display()),
            Column("Referred by", lambda r: r.referring_provider),
            Column(
                "Appointment",
                lambda r: (
                    fmt_time(r.appointment.start, r.appointment.location) if r.appointment else ""
                ),
            ),
            Column("Days to appointment", _days_to_visit),
            PATIENT_ID,
            PATIENT_NAME,
        ],
        patient_id=lambda r: r.patient_id,
    ),
)
