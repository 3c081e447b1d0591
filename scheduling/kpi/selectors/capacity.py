"""Capacity: slot utilization, schedule fill, waitlist fill, third next available."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from scheduling.models import AppointmentType, Location, Provider, Slot, Waitlist

from ..filters import KpiFilters
from ..metrics import Metric, no_source_note, rate, rate_metric
from .scoping import in_both, in_current, in_period, in_previous, slots_scoped, waitlist_scoped

THIRD = 3
DEF_UTILIZATION = (
    "Booked slot units ÷ bookable slot units (free + booked; blocked excluded) for slots "
    "starting in the period. Slots exist for the materialized horizon only: pick a future "
    "range to see upcoming fill."
)
DEF_TNA = (
    "Days from now to the start of the third free slot at the location with a provider who "
    "has every capability the appointment type needs (locations lacking its equipment are "
    "left out). The industry's access measure: the first two openings are often chance "
    "cancellations. Counted in slot units: a visit longer than one unit may also need the "
    "following unit free. Always as of now; the date range does not apply."
)
DEF_WAITLIST = "Waitlist entries created in the period that ended in a booking."
SCHEDULE_FILL_DAYS = 14
DEF_SCHEDULE_FILL = (
    f"How full the upcoming schedule is: booked slot units ÷ bookable slot units (free + "
    f"booked; blocked excluded) for slots starting from now through the next "
    f"{SCHEDULE_FILL_DAYS} days. Always as of now; the date range, agent and appointment-type "
    f"filters do not apply, region and location do. No previous period: it looks forward."
)


BOOKED = Q(status=Slot.Status.BOOKED)


def schedule_fill_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now, now + timedelta(days=SCHEDULE_FILL_DAYS)


def schedule_fill_by_day(f: KpiFilters, now: datetime | None = None) -> list[dict[str, Any]]:
    """Fill of the upcoming schedule per (UTC) day, every day of the window included."""
    start, end = schedule_fill_window(now)
    rows = {
        r["day"]: r
        for r in _utilization_rows(
            slots_scoped(f)
            .filter(start__gte=start, start__lt=end)
            .annotate(day=TruncDate("start"))
            .values("day")
            .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
            .order_by("day")
        )
    }
    first = start.date()
    return [
        rows.get(day) or {"day": day, "slots": 0, "booked": 0, "utilization": None}
        for day in (first + timedelta(days=i) for i in range((end.date() - first).days + 1))
    ]


def capacity_metrics(f: KpiFilters, now: datetime | None = None) -> list[Metric]:
    slots = slots_scoped(f).filter(in_both("start", f))
    cur, prev = in_current("start", f), in_previous("start", f)
    agg = slots.aggregate(
        cur=Count("id", filter=cur),
        prev=Count("id", filter=prev),
        booked_cur=Count("id", filter=cur & BOOKED),
        booked_prev=Count("id", filter=prev & BOOKED),
    )
    fill_start, fill_end = schedule_fill_window(now)
    fill = (
        slots_scoped(f)
        .filter(start__gte=fill_start, start__lt=fill_end)
        .aggregate(slots=Count("id"), booked=Count("id", filter=BOOKED))
    )
    waitlist = waitlist_scoped(f).filter(in_both("created_at", f))
    wcur, wprev = in_current("created_at", f), in_previous("created_at", f)
    filled = Q(status=Waitlist.Status.BOOKED)
    wagg = waitlist.aggregate(
        cur=Count("id", filter=wcur),
        prev=Count("id", filter=wprev),
        ok_cur=Count("id", filter=wcur & filled),
        ok_prev=Count("id", filter=wprev & filled),
    )
    no_wait = no_source_note(bool(wagg["cur"] or wagg["prev"]), Waitlist, "no waitlist entries.")
    found = bool(agg["cur"] or agg["prev"] or fill["slots"])
    no_slots = no_source_note(found, Slot, "no slots materialized.")
    if not no_slots and not agg["cur"]:
        # Slots are materialized forward from the day they were generated, so a past
        # period usually has none: say so and point at the forward-looking figure.
        no_slots = (
            "No bookable slots start in this period (slots are materialized for the schedule "
            "ahead, not kept for the past). See Schedule fill for the upcoming "
            f"{SCHEDULE_FILL_DAYS} days, or pick a future date range."
        )
    return [
        rate_metric(
            "utilization",
            "Slot utilization",
            f"{DEF_UTILIZATION} Agent and appointment-type filters do not apply to slots.",
            agg,
            numerator="booked",
            drill="booked_slots",
            no_source=no_slots,
        ),
        Metric(
            "schedule_fill",
            f"Schedule fill, next {SCHEDULE_FILL_DAYS} days",
            DEF_SCHEDULE_FILL,
            "percent",
            rate(fill["booked"], fill["slots"]),
            None,
            numerator=fill["booked"],
            denominator=fill["slots"],
            drill="upcoming_slots",
            no_source="" if fill["slots"] else no_source_note(found, Slot, "no slots ahead."),
        ),
        rate_metric(
            "waitlist_fill",
            "Waitlist fill rate",
            DEF_WAITLIST,
            wagg,
            numerator="ok",
            drill="waitlist",
            no_source=no_wait,
        ),
    ]


def _utilization_rows(rows: QuerySet[Any]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = dict(r)
        r["utilization"] = rate(r["booked"], r["slots"])
        out.append(r)
    return out


def utilization_by_location(f: KpiFilters) -> list[dict[str, Any]]:
    return _utilization_rows(
        slots_scoped(f)
        .filter(in_period("start", f))
        .values("location_id", "location__name")
        .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
        .order_by("location__name")
    )


def utilization_by_provider(f: KpiFilters) -> list[dict[str, Any]]:
    return _utilization_rows(
        slots_scoped(f)
        .filter(in_period("start", f))
        .values("provider_id", "provider__last_name", "provider__first_name")
        .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
        .order_by("provider__last_name", "provider__first_name", "provider_id")
    )


def utilization_by_day(f: KpiFilters) -> list[dict[str, Any]]:
    rows = {
        r["day"]: r
        for r in _utilization_rows(
            slots_scoped(f)
            .filter(in_period("start", f))
            .annotate(day=TruncDate("start"))
            .values("day")
            .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
            .order_by("day")
        )
    }
    return [
        rows.get(day) or {"day": day, "slots": 0, "booked": 0, "utilization": None}
        for day in (f.date_from + timedelta(days=i) for i in range(f.days))
    ]


@dataclass
class ThirdAvailable:
    location_id: int
    location: str
    appointment_type_id: int
    appointment_type: str
    third_start: datetime | None
    days_out: float | None
    note: str = ""
    # The location's IANA zone, so the page shows the slot in the location's own time.
    time_zone: str = ""


def capable_providers(types: list[AppointmentType]) -> dict[int, set[int]]:
    """Providers holding every capability each type requires: two small M2M reads."""
    required: dict[int, set[int]] = {t.pk: set() for t in types}
    for type_id, cap_id in AppointmentType.required_capabilities.through.objects.filter(
        appointmenttype_id__in=required
    ).values_list("appointmenttype_id", "capability_id"):
        required[type_id].add(cap_id)
    has: dict[int, set[int]] = {}
    for provider_id, cap_id in Provider.capabilities.through.objects.filter(
        provider__active=True
    ).values_list("provider_id", "capability_id"):
        has.setdefault(provider_id, set()).add(cap_id)
    for provider_id in Provider.objects.filter(active=True).values_list("pk", flat=True):
        has.setdefault(provider_id, set())
    return {
        type_id: {p for p, caps in has.items() if needs <= caps}
        for type_id, needs in required.items()
    }


def third_next_available(f: KpiFilters, now: datetime | None = None) -> list[ThirdAvailable]:
    now = now or timezone.now()
    types = list(AppointmentType.objects.filter(active=True).order_by("name"))
    if f.appointment_type_id:
        types = [t for t in types if t.pk == f.appointment_type_id]
    locations = Location.objects.filter(active=True)
    if f.region_id:
        locations = locations.filter(region_id=f.region_id)
    if f.location_id:
        locations = locations.filter(pk=f.location_id)
    locs = list(locations.order_by("name"))
    if not types or not locs:
        return []
    capable = capable_providers(types)
    loc_equipment: dict[int, set[int]] = {loc.pk: set() for loc in locs}
    for loc_id, eq_id in Location.equipment.through.objects.filter(
        location_id__in=loc_equipment
    ).values_list("location_id", "equipment_id"):
        loc_equipment[loc_id].add(eq_id)
    type_equipment: dict[int, set[int]] = {t.pk: set() for t in types}
    for type_id, eq_id in AppointmentType.required_equipment.through.objects.filter(
        appointmenttype_id__in=type_equipment
    ).values_list("appointmenttype_id", "equipment_id"):
        type_equipment[type_id].add(eq_id)
    served: dict[int, set[int]] = {loc.pk: set() for loc in locs}
    for provider_id, loc_id in Provider.locations.through.objects.filter(
        location_id__in=served
    ).values_list("provider_id", "location_id"):
        served[loc_id].add(provider_id)

    results: list[ThirdAvailable] = []
    for appt_type in types:
        # One query per visit type: per location, the third free start among capable
        # providers, found by an index scan on (location, status, start) that stops early.
        wanted = [
            loc.pk
            for loc in locs
            if type_equipment[appt_type.pk] <= loc_equipment[loc.pk]
            and capable[appt_type.pk] & served[loc.pk]
        ]
        thirds: dict[int, datetime | None] = {}
        if wanted:
            third = (
                Slot.objects.filter(
                    location_id=OuterRef("pk"),
                    status=Slot.Status.FREE,
                    start__gte=now,
                    provider_id__in=sorted(capable[appt_type.pk]),
                )
                .order_by("start")
                .values("start")[THIRD - 1 : THIRD]
            )
            thirds = dict(
                Location.objects.filter(pk__in=wanted)
                .annotate(third=Subquery(third))
                .values_list("pk", "third")
            )
        for loc in locs:
            start = thirds.get(loc.pk)
            if loc.pk not in wanted:
                note = "not offered here (equipment or capability)"
            elif start is None:
                note = "fewer than three free slots in the horizon"
            else:
                note = ""
            results.append(
                ThirdAvailable(
                    location_id=loc.pk,
                    location=loc.name,
                    appointment_type_id=appt_type.pk,
                    appointment_type=appt_type.name,
                    third_start=start,
                    days_out=(start - now).total_seconds() / 86_400 if start else None,
                    note=note,
                    time_zone=loc.time_zone,
                )
            )
    return results
