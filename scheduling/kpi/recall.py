"""The recall campaign page: who was contacted, who booked after the contact, who opted
out of texts after it; by location, with the patients behind each count."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from patients.models import Patient
from scheduling.models import Appointment, RecallOutreach

from .drill import PATIENT_ID, PATIENT_NAME, fmt_time
from .filters import KpiFilters
from .metrics import Metric
from .registry import Column, Drill, Section, drill_register, section_register
from .selectors.scoping import in_period
from .tables import Page, Table, counted, drill_url

BOOKED = "Booked"
OPTED_OUT = "Opted out"
CONTACTED = "Contacted"


def outreach_scoped(f: KpiFilters) -> QuerySet[RecallOutreach]:
    """The period's contacts, each marked with what followed it: a booking of the recalled
    visit made after the contact, or an opt-out from texts after it."""
    booked_after = Appointment.objects.filter(
        patient_id=OuterRef("patient_id"),
        appointment_type_id=OuterRef("rule__appointment_type_id"),
        created_at__gte=OuterRef("contacted_at"),
        status__in=[*Appointment.ACTIVE_STATUSES, Appointment.Status.COMPLETED],
    )
    qs = RecallOutreach.objects.filter(in_period("contacted_at", f)).annotate(
        booked=Exists(booked_after),
        opted_out=Exists(
            Patient.objects.filter(
                pk=OuterRef("patient_id"), sms_opted_out_at__gte=OuterRef("contacted_at")
            )
        ),
    )
    if f.location_id:
        qs = qs.filter(location_id=f.location_id)
    elif f.region_id:
        qs = qs.filter(location__region_id=f.region_id)
    if f.appointment_type_id:
        qs = qs.filter(rule__appointment_type_id=f.appointment_type_id)
    return qs


def _status(row: Any) -> str:
    return BOOKED if row.booked else OPTED_OUT if row.opted_out else CONTACTED


def _counts(f: KpiFilters) -> tuple[int, int, int]:
    rows = list(outreach_scoped(f).values_list("booked", "opted_out"))  # type: ignore[misc]
    return len(rows), sum(1 for b, _ in rows if b), sum(1 for _, o in rows if o)


def recall_metrics(f: KpiFilters) -> list[Metric]:
    (sent, booked, opted), (p_sent, p_booked, p_opted) = _counts(f), _counts(f.previous())

    def share(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    return [
        Metric(
            "recall_contacted",
            "Patients contacted for recall",
            "Recall texts and emails sent in the period.",
            "count",
            sent,
            p_sent,
            drill="recall",
        ),
        Metric(
            "recall_conversion",
            "Recall conversion",
            "Share of the period's recall contacts followed by a booking of the recalled visit.",
            "percent",
            share(booked, sent),
            share(p_booked, p_sent),
            numerator=booked,
            denominator=sent,
            drill="recall",
        ),
        Metric(
            "recall_opt_out",
            "Opted out after recall",
            "Share of the period's recall contacts whose patient opted out of texts after it.",
            "percent",
            share(opted, sent),
            share(p_opted, p_sent),
            numerator=opted,
            denominator=sent,
            drill="recall",
            lower_is_better=True,
        ),
    ]


def _page(f: KpiFilters) -> Page:
    by_location: dict[str, list[int]] = {}
    # (django-stubs does not see annotated names in values_list.)
    for name, booked, opted in outreach_scoped(f).values_list(  # type: ignore[misc]
        "location__name", "booked", "opted_out"
    ):
        counts = by_location.setdefault(name or "(no home location)", [0, 0, 0])
        counts[0] += 1
        counts[1] += int(booked)
        counts[2] += int(opted)
    rows = [
        {"location": name, "contacted": c, "booked": b, "opted_out": o}
        for name, (c, b, o) in sorted(by_location.items())
    ]
    return Page(
        metrics=recall_metrics(f),
        tables=[
            Table(
                "by_location",
                "Recall by home location",
                [
                    ("Location", "location", "text"),
                    ("Contacted", "contacted", "count"),
                    ("Booked", "booked", "count"),
                    ("Opted out", "opted_out", "count"),
                ],
                rows,
                link=lambda r: drill_url("recall", f),
                link_label=lambda r: counted(r["contacted"], "contact"),
            )
        ],
    )


def _drill_rows(f: KpiFilters, _: dict[str, int]) -> QuerySet[RecallOutreach]:
    return (
        outreach_scoped(f)
        .select_related("location", "rule__appointment_type", "message", "patient")
        .order_by("-contacted_at", "-pk")
    )


section_register(
    Section(
        "recall",
        "Recall",
        46,
        _page,
        overview_metrics=recall_metrics,
        overview_keys=frozenset({"recall_conversion"}),
    )
)
drill_register(
    "recall",
    Drill(
        "Recall contacts",
        "Patients contacted for recall in the period, and what followed.",
        _drill_rows,
        [
            Column("Contact", lambda r: r.pk),
            Column("Sent", lambda r: fmt_time(r.contacted_at, r.location)),
            Column("Visit", lambda r: r.rule.appointment_type.name),
            Column("Location", lambda r: r.location.name if r.location else ""),
            Column("Channel", lambda r: r.message.get_channel_display() if r.message else ""),
            Column("Last visit", lambda r: r.last_visit.isoformat()),
            Column("Outcome", _status),
            PATIENT_ID,
            PATIENT_NAME,
        ],
        patient_id=lambda r: r.patient_id,
    ),
)
