"""The demo history's daily capacity (CapacityDay), as the slot materializer would have
kept it had the hub been running: each provider's template units per day, and the units
the history's visits took."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from ..models import Appointment, CapacityDay, LocationClosure, ScheduleTemplate
from ..services.slots import _local_slot_starts

TAKEN = ("booked", "arrived", "completed", "no_show")


def backfill_capacity(*, today: date, months: int) -> int:
    """Write CapacityDay rows for the ``months`` before ``today``; returns how many."""
    if months < 1:
        return 0
    first = today - timedelta(days=months * 30 + 1)
    closures = set(
        LocationClosure.objects.filter(date__gte=first, date__lt=today).values_list(
            "location_id", "date"
        )
    )
    slots: dict[tuple[date, int, int], int] = defaultdict(int)
    unit_minutes: dict[tuple[int, int], int] = {}
    for template in ScheduleTemplate.objects.filter(active=True).select_related("location"):
        tz = zoneinfo.ZoneInfo(template.location.time_zone)
        unit_minutes[(template.location_id, template.provider_id)] = template.slot_minutes
        day = first + timedelta(days=(template.weekday - first.weekday()) % 7)
        while day < today:
            valid = template.valid_from <= day and (
                template.valid_until is None or day <= template.valid_until
            )
            if valid and (template.location_id, day) not in closures:
                for start in _local_slot_starts(template, day, tz):
                    slots[
                        (start.astimezone(UTC).date(), template.location_id, template.provider_id)
                    ] += 1
            day += timedelta(days=7)
    booked: dict[tuple[date, int, int], int] = defaultdict(int)
    for loc_id, prov_id, start, end in Appointment.objects.filter(
        status__in=TAKEN,
        start__gte=datetime.combine(first, time.min, tzinfo=UTC),
        start__lt=datetime.combine(today, time.min, tzinfo=UTC),
    ).values_list("location_id", "provider_id", "start", "end"):
        minutes = unit_minutes.get((loc_id, prov_id), 30)
        units = max(1, -(-int((end - start).total_seconds() // 60) // minutes))
        booked[(start.astimezone(UTC).date(), loc_id, prov_id)] += units
    rows = [
        CapacityDay(
            day=key[0],
            location_id=key[1],
            provider_id=key[2],
            slots=max(slots.get(key, 0), booked.get(key, 0)),
            booked=booked.get(key, 0),
        )
        for key in set(slots) | set(booked)
        if first <= key[0] < today
    ]
    CapacityDay.objects.filter(day__gte=first, day__lt=today).delete()
    CapacityDay.objects.bulk_create(rows, batch_size=5000)
    return len(rows)
