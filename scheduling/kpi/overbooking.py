"""Overbookings on the capacity page: how many deliberate double-bookings each provider
and location carried in the period, with the rows behind each count."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db.models import Count, QuerySet

from scheduling.models import Appointment

from .drill import APPOINTMENT_COLUMNS
from .filters import KpiFilters
from .metrics import Metric
from .registry import Column, Drill, drill_register
from .selectors import appointments_scoped, in_period
from .tables import Table, counted, drill_url

DEFINITION = (
    "Appointments scheduled in the period that double-booked an already booked slot on "
    "purpose (any status since)."
)


def overbookings_scoped(f: KpiFilters) -> QuerySet[Appointment]:
    return appointments_scoped(f).filter(in_period("start", f), overbooked=True)


def overbooking_metric(f: KpiFilters) -> Metric:
    return Metric(
        "overbookings",
        "Overbookings",
        DEFINITION,
        "count",
        overbookings_scoped(f).count(),
        overbookings_scoped(f.previous()).count(),
        drill="overbookings",
        lower_is_better=True,
    )


def overbooking_table(f: KpiFilters) -> Table:
    rows = [
        {**r, "provider": f"{r['provider__last_name']}, {r['provider__first_name']}"}
        for r in overbookings_scoped(f)
        .values(
            "provider_id",
            "provider__last_name",
            "provider__first_name",
            "location_id",
            "location__name",
        )
        .annotate(count=Count("pk"))
        .order_by("-count", "provider__last_name", "location__name")
    ]
    return Table(
        "overbookings",
        "Overbookings by provider and location",
        [
            ("Provider", "provider", "text"),
            ("Location", "location__name", "text"),
            ("Overbookings", "count", "count"),
        ],
        rows,
        link=lambda r: drill_url(
            "overbookings", replace(f, location_id=r["location_id"]), provider=r["provider_id"]
        ),
        link_label=lambda r: counted(r["count"], "appointment"),
        note=DEFINITION,
        limit=100,
    )


def _rows(f: KpiFilters, params: dict[str, int]) -> QuerySet[Appointment]:
    qs = overbookings_scoped(f)
    if params.get("provider"):
        qs = qs.filter(provider_id=params["provider"])
    return qs.select_related(
        "location", "provider", "appointment_type", "booked_by", "patient"
    ).order_by("-start", "-pk")


def _why(row: Any) -> str:
    return str(row.overbook_reason or "")


drill_register(
    "overbookings",
    Drill(
        "Overbookings",
        DEFINITION,
        _rows,
        # The reason is typed during a call and may describe the patient: PHI.
        [*APPOINTMENT_COLUMNS, Column("Why overbooked", _why, phi=True)],
        patient_id=lambda r: r.patient_id,
    ),
)
