"""Capacity: slot utilization, schedule fill, waitlist fill, third next available."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from scheduling.models import AppointmentType, CapacityDay, Location, Provider, Slot, Waitlist

from ..filters import KpiFilters
from ..metrics import Metric, no_source_note, rate, rate_metric
from .scoping import (
    in_both,
    in_current,
    in_previous,
    scoped,
    slots_scoped,
    waitlist_scoped,
)

THIRD = 3
DEF_UTILIZATION = (
    "Booked slot units ÷ bookable slot units (free + booked; blocked excluded) for slots "
    "starting in the period. Past days read the capacity kept for each day; days ahead "
    "read the materialized schedule."
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


@dataclass(frozen=True)
class Cell:
    day: date  # UTC, like every KPI period
    location_id: int
    provider_id: int
    slots: int
    booked: int


def capacity_cells(f: KpiFilters, start: datetime, end: datetime) -> list[Cell]:
    """Slot units and booked units per (UTC day, location, provider) in [start, end).

    A day kept in CapacityDay (the past, snapshotted by the materializer or backfilled)
    is read from there; any other day from the Slot table. Two grouped reads.
    """
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    kept = scoped(
        CapacityDay.objects.filter(day__gte=first, day__lte=last), f, location="location_id"
    )
    cells = [
        Cell(r["day"], r["location_id"], r["provider_id"], r["slots"], r["booked"])
        for r in kept.values("day", "location_id", "provider_id", "slots", "booked")
    ]
    kept_keys = {(c.day, c.location_id, c.provider_id) for c in cells}
    live = (
        slots_scoped(f)
        .filter(start__gte=start, start__lt=end)
        .annotate(day=TruncDate("start", tzinfo=UTC))
        .values("day", "location_id", "provider_id")
        .annotate(slots=Count("id"), booked=Count("id", filter=BOOKED))
    )
    cells += [
        Cell(r["day"], r["location_id"], r["provider_id"], r["slots"], r["booked"])
        for r in live
        if (r["day"], r["location_id"], r["provider_id"]) not in kept_keys
    ]
    return cells


def capacity_metrics(f: KpiFilters, now: datetime | None = None) -> list[Metric]:
    cells = capacity_cells(f, f.prev_start, f.end)
    current = [c for c in cells if c.day >= f.date_from]
    previous = [c for c in cells if c.day < f.date_from]
    agg = {
        "cur": sum(c.slots for c in current),
        "prev": sum(c.slots for c in previous),
        "booked_cur": sum(c.booked for c in current),
        "booked_prev": sum(c.booked for c in previous),
    }
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
        no_slots = (
            "No bookable slots start in this period: no schedule was kept for these days (the "
            "slot materializer keeps each day's capacity from the day it runs). See "
            f"Schedule fill for the upcoming {SCHEDULE_FILL_DAYS} days."
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


def _utilization_rows(rows: Iterable[Any]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        r = dict(r)
        r["utilization"] = rate(r["booked"], r["slots"])
        out.append(r)
    return out


def _summed(cells: list[Cell], key: str) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    for c in cells:
        row = out.setdefault(getattr(c, key), {"slots": 0, "booked": 0})
        row["slots"] += c.slots
        row["booked"] += c.booked
    return out


def utilization_by_location(f: KpiFilters) -> list[dict[str, Any]]:
    sums = _summed(capacity_cells(f, f.start, f.end), "location_id")
    names = dict(Location.objects.filter(pk__in=sums).values_list("pk", "name"))
    return _utilization_rows(
        [
            {"location_id": pk, "location__name": names.get(pk, ""), **row}
            for pk, row in sorted(sums.items(), key=lambda kv: names.get(kv[0], ""))
        ]
    )


def utilization_by_provider(f: KpiFilters) -> list[dict[str, Any]]:
    sums = _summed(capacity_cells(f, f.start, f.end), "provider_id")
    names = {
        pk: (last, first)
        for pk, last, first in Provider.objects.filter(pk__in=sums).values_list(
            "pk", "last_name", "first_name"
        )
    }
    return _utilization_rows(
        [
            {
                "provider_id": pk,
                "provider__last_name": names.get(pk, ("", ""))[0],
                "provider__first_name": names.get(pk, ("", ""))[1],
                **row,
            }
            for pk, row in sorted(sums.items(), key=lambda kv: (*names.get(kv[0], ("", "")), kv[0]))
        ]
    )


def utilization_by_day(f: KpiFilters) -> list[dict[str, Any]]:
    by_day: dict[date, dict[str, Any]] = {}
    for c in capacity_cells(f, f.start, f.end):
        row = by_day.setdefault(c.day, {"day": c.day, "slots": 0, "booked": 0})
        row["slots"] += c.slots
        row["booked"] += c.booked
    rows = {r["day"]: r for r in _utilization_rows(list(by_day.values()))}
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
