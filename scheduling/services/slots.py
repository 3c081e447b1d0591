"""Keeping the Slot table in step with the schedule templates."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ..models import (
    LocationClosure,
    ScheduleTemplate,
    Slot,
    TimeOff,
)
from ..selectors.holds import open_holds
from .capacity import capacity_snapshot_due


@dataclass(frozen=True)
class MaterializeResult:
    created: int
    removed: int
    kept: int


def _local_slot_starts(
    template: ScheduleTemplate, day: date, tz: zoneinfo.ZoneInfo
) -> Iterator[datetime]:
    """Slot starts for one template on one local date, as aware UTC datetimes.

    Wall-clock times are combined with the location's zone, so 08:00 in America/Denver
    is 08:00 local on both sides of a DST change. A wall time that does not exist that
    day (inside the spring-forward gap) produces no slot rather than a shifted one.
    """
    step = timedelta(minutes=template.slot_minutes)
    cursor = datetime.combine(day, template.start_time)
    end = datetime.combine(day, template.end_time)
    break_start = datetime.combine(day, template.break_start) if template.break_start else None
    break_end = datetime.combine(day, template.break_end) if template.break_end else None
    while cursor + step <= end:
        slot_end = cursor + step
        in_break = (
            break_start is not None
            and break_end is not None
            and cursor < break_end
            and slot_end > break_start
        )
        if not in_break:
            local = cursor.replace(tzinfo=tz)
            as_utc = local.astimezone(UTC)
            if as_utc.astimezone(tz).replace(tzinfo=None) == cursor:
                yield as_utc
        cursor = slot_end


def _overlaps(start: datetime, end: datetime, spans: Iterable[tuple[datetime, datetime]]) -> bool:
    return any(start < span_end and end > span_start for span_start, span_end in spans)


@transaction.atomic
def slots_materialize(
    *, start: date | None = None, days: int | None = None, provider_ids: Iterable[int] | None = None
) -> MaterializeResult:
    """Make the Slot table match the schedule templates over a rolling horizon.

    Idempotent: missing slots are created, free slots that templates no longer produce
    (a template edited, time off or a closure added) are removed, and booked or held
    slots are never touched. A free slot that an appointment once occupied is removed
    too, with its inactive links: otherwise a unit freed by a cancellation would stay
    bookable inside time off entered after it was booked. (The cancelled appointment
    keeps its own start, end, provider and location.)
    """
    days = settings.SLOT_HORIZON_DAYS if days is None else days
    if days < 1:
        raise ValueError("days must be at least 1")
    first_day = start or timezone.now().date()
    last_day = first_day + timedelta(days=days - 1)
    now = timezone.now()

    template_rows = ScheduleTemplate.objects.filter(
        active=True, provider__active=True, location__active=True, valid_from__lte=last_day
    ).select_related("location")
    if provider_ids is not None:
        provider_ids = list(provider_ids)
        template_rows = template_rows.filter(provider_id__in=provider_ids)
    templates = [t for t in template_rows if t.valid_until is None or t.valid_until >= first_day]

    closures = set(
        LocationClosure.objects.filter(date__range=(first_day, last_day)).values_list(
            "location_id", "date"
        )
    )
    window_start = datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=UTC)
    window_end = datetime.combine(last_day + timedelta(days=2), time.min, tzinfo=UTC)
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for provider_id, off_start, off_end in TimeOff.objects.filter(
        ends_at__gt=window_start, starts_at__lt=window_end
    ).values_list("provider_id", "starts_at", "ends_at"):
        time_off[provider_id].append((off_start, off_end))

    desired: dict[tuple[int, datetime], Slot] = {}
    for template in templates:
        tz = zoneinfo.ZoneInfo(template.location.time_zone)
        day = max(first_day, template.valid_from)
        final = min(last_day, template.valid_until or last_day)
        # Jump to the template's weekday, then step a week at a time.
        day += timedelta(days=(template.weekday - day.weekday()) % 7)
        while day <= final:
            if (template.location_id, day) not in closures:
                for slot_start in _local_slot_starts(template, day, tz):
                    slot_end = slot_start + timedelta(minutes=template.slot_minutes)
                    if slot_start < now or _overlaps(
                        slot_start, slot_end, time_off[template.provider_id]
                    ):
                        continue
                    desired[(template.provider_id, slot_start)] = Slot(
                        provider_id=template.provider_id,
                        location_id=template.location_id,
                        template_id=template.pk,
                        start=slot_start,
                        end=slot_end,
                    )
            day += timedelta(days=7)

    existing = Slot.objects.filter(start__gte=max(window_start, now), start__lt=window_end)
    if provider_ids is not None:
        existing = existing.filter(provider_id__in=provider_ids)
    existing_rows = list(
        existing.values_list("id", "provider_id", "location__time_zone", "start", "status")
    )
    existing_keys = {
        (provider_id, slot_start) for _, provider_id, _, slot_start, _ in existing_rows
    }

    to_create = [slot for key, slot in desired.items() if key not in existing_keys]
    # ignore_conflicts: a concurrent run may insert the same (provider, start) first.
    Slot.objects.bulk_create(to_create, batch_size=2000, ignore_conflicts=True)

    stale_ids = [
        slot_id
        for slot_id, provider_id, tz_name, slot_start, status in existing_rows
        if status == Slot.Status.FREE
        and (provider_id, slot_start) not in desired
        and first_day <= slot_start.astimezone(zoneinfo.ZoneInfo(tz_name)).date() <= last_day
    ]
    removed = 0
    if stale_ids:
        held = set(open_holds().filter(slot_id__in=stale_ids).values_list("slot_id", flat=True))
        removable = [i for i in stale_ids if i not in held]
        for chunk_start in range(0, len(removable), 900):
            chunk = removable[chunk_start : chunk_start + 900]
            removed += (
                Slot.objects.filter(id__in=chunk, status=Slot.Status.FREE)
                .exclude(appointment_links__active=True)
                .delete()[1]
                .get("scheduling.Slot", 0)
            )
    if provider_ids is None and start is None:
        # The nightly run also keeps the days just past (utilization for any period).
        capacity_snapshot_due(now=now)
    return MaterializeResult(
        created=len(to_create), removed=removed, kept=len(existing_keys) - removed
    )
