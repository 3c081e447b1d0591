"""Reads for the rebooking worklist: the alternatives the rules engine offers a visit a
schedule change hit, and the worklist rows with those alternatives still open."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet

from ..models import Appointment, RebookingItem, Slot
from ..selectors.holds import live_holds
from ..selectors.slot_results import SlotOption
from ..selectors.slot_search import slot_search

# How many alternatives each row keeps, and how far around the old time they are looked for.
SUGGESTIONS = 3
DAYS_BEFORE = 7
DAYS_AFTER = 21


def suggestions_for(appointment: Appointment, *, now: datetime) -> list[int]:
    """Slot ids of the nearest bookable starts for the same patient and visit type, in the
    appointment's region (its provider's colleagues and other locations, as the rules
    allow), nearest to the old time first. The slot search applies every hard rule, time
    off and closures included, and does not count the visit itself as an overlap."""
    zone = zoneinfo.ZoneInfo(appointment.location.time_zone)
    day = appointment.start.astimezone(zone).date()
    today = now.astimezone(zone).date()
    options: dict[int, SlotOption] = {}
    # The search returns each provider's earliest starts in its window, so the same day
    # (a colleague at the very same time) is asked for on its own before the wide window.
    for first, last in (
        (max(day, today), day),
        (max(day - timedelta(days=DAYS_BEFORE), today), day + timedelta(days=DAYS_AFTER)),
    ):
        if last < first:
            continue
        result = slot_search(
            patient=appointment.patient,
            appointment_type=appointment.appointment_type,
            region=appointment.location.region_id,
            date_from=first,
            date_to=last,
            rescheduling=appointment,
            limit=30,
            now=now,
        )
        for option in result.options:
            options.setdefault(option.slot_id, option)
    ranked = sorted(
        options.values(),
        key=lambda o: (
            abs((o.start - appointment.start).total_seconds()),
            o.provider_id != appointment.provider_id,
            -o.score,
        ),
    )
    return [o.slot_id for o in ranked[:SUGGESTIONS]]


@dataclass(frozen=True)
class Suggestion:
    slot: Slot
    local_start: datetime


@dataclass(frozen=True)
class WorklistRow:
    item: RebookingItem
    local_start: datetime  # the hit visit, in its location's zone
    suggestions: tuple[Suggestion, ...]  # still free and not held, best first


def worklist_items(*, status: str | None = RebookingItem.Status.OPEN) -> QuerySet[RebookingItem]:
    items = RebookingItem.objects.select_related(
        "appointment__patient",
        "appointment__provider",
        "appointment__location",
        "appointment__appointment_type",
        "new_appointment__provider",
        "new_appointment__location",
    )
    return items if status is None else items.filter(status=status)


def rebooking_worklist(*, now: datetime, limit: int = 200) -> list[WorklistRow]:
    """Open rows, oldest visit first, then those closed in the last day; each open row
    with the suggestions that are still free and held by nobody."""
    open_items = list(worklist_items().order_by("appointment__start", "pk")[:limit])
    done = list(
        worklist_items(status=None)
        .exclude(status=RebookingItem.Status.OPEN)
        .filter(resolved_at__gte=now - timedelta(days=1))
        .order_by("-resolved_at", "-pk")[:limit]
    )
    wanted = {slot_id for item in open_items for slot_id in item.suggestions}
    held = set(live_holds(now).filter(slot_id__in=wanted).values_list("slot_id", flat=True))
    slots = {
        s.pk: s
        for s in Slot.objects.filter(
            pk__in=wanted - held, status=Slot.Status.FREE, start__gt=now
        ).select_related("provider", "location")
    }
    rows = []
    for item in open_items + done:
        zone = zoneinfo.ZoneInfo(item.appointment.location.time_zone)
        suggestions = tuple(
            Suggestion(
                slots[i], slots[i].start.astimezone(zoneinfo.ZoneInfo(slots[i].location.time_zone))
            )
            for i in item.suggestions
            if i in slots and item.status == RebookingItem.Status.OPEN
        )
        rows.append(WorklistRow(item, item.appointment.start.astimezone(zone), suggestions))
    return rows
