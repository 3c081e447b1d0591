"""Waitlist matches: the open entries a freed slot could serve."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet, prefetch_related_objects
from django.utils import timezone

from config.compiled import Compiled, CompiledPer, stand_in_id, stand_in_moment

from ..models import Slot, Waitlist
from ..rules.timing import in_time_of_day
from .booking_rules import slot_judgement
from .holds import live_holds


@dataclass(frozen=True)
class WaitlistMatch:
    entry_id: int
    patient_id: int
    patient_name: str
    appointment_type_id: int
    appointment_type: str
    slot_id: int
    start: datetime  # UTC
    local_start: datetime  # in the location's zone
    location_id: int
    location: str
    provider_id: int
    provider: str
    earliest: date
    latest: date
    time_of_day: str


def _free_runs(slots: list[Slot], now: datetime) -> dict[int, timedelta]:
    """For each given slot, how long the provider's free, unheld time runs from its start."""
    if not slots:
        return {}
    provider_ids = {s.provider_id for s in slots}
    lo = min(s.start for s in slots)
    hi = max(s.start for s in slots) + timedelta(hours=10)
    held = set(
        live_holds(now)
        .filter(slot__provider_id__in=provider_ids, slot__start__gte=lo, slot__start__lt=hi)
        .values_list("slot_id", flat=True)
    )
    by_provider: dict[int, list[tuple[int, int, datetime, datetime]]] = defaultdict(list)
    for row in (
        Slot.objects.filter(
            provider_id__in=provider_ids, start__gte=lo, start__lt=hi, status=Slot.Status.FREE
        )
        .order_by("provider_id", "start")
        .values_list("id", "location_id", "start", "end", "provider_id")
    ):
        if row[0] not in held:
            by_provider[row[4]].append(row[:4])
    runs: dict[int, timedelta] = {}
    for rows in by_provider.values():
        # Walk backwards so each slot's run is its own length plus the next one's run.
        following: tuple[int, datetime, timedelta] | None = None  # (location, start, run)
        for slot_id, location_id, start, end in reversed(rows):
            run = end - start
            if following is not None and following[0] == location_id and following[1] == end:
                run += following[2]
            runs[slot_id] = run
            following = (location_id, start, run)
    return runs


def waitlist_matches_for_slots(*, slot_ids: Iterable[int]) -> list[WaitlistMatch]:
    """Open waitlist entries a set of freed slots could serve, first come first served.

    An entry matches a slot when the slot's local date is inside its window, the slot is
    in its time of day, its provider/location lists (when given) include the slot's, the
    free run from the slot is long enough for the visit, and every hard rule of the slot
    finder passes for that patient, visit type and slot (``booking_rules``). Each entry
    appears once, with the earliest slot that serves it.

    Cost: the rules run (a few indexed reads) only for the slots that already fit an
    entry's window and lists, and stop at its first match.
    """
    now = timezone.now()
    slots = list(
        Slot.objects.filter(pk__in=list(slot_ids), start__gt=now, status=Slot.Status.FREE)
        .select_related("location", "provider")
        .order_by("start")
    )
    runs = _free_runs(slots, now)
    slots = [s for s in slots if s.pk in runs]
    if not slots:
        return []
    zones = {s.location_id: zoneinfo.ZoneInfo(s.location.time_zone) for s in slots}
    local = {s.pk: s.start.astimezone(zones[s.location_id]) for s in slots}
    first_day = min(v.date() for v in local.values())
    last_day = max(v.date() for v in local.values())
    entries = list(
        Waitlist.objects.filter(
            status__in=[Waitlist.Status.OPEN, Waitlist.Status.OFFERED],
            earliest__lte=last_day,
            latest__gte=first_day,
        )
        .select_related("patient", "appointment_type")
        .prefetch_related("providers", "locations")
        .order_by("created_at", "pk")
    )
    if not entries:
        return []
    matches = []
    for entry in entries:
        wanted_providers = {p.pk for p in entry.providers.all()}
        wanted_locations = {loc.pk for loc in entry.locations.all()}
        need = timedelta(minutes=entry.appointment_type.duration_minutes)
        for slot in slots:
            when = local[slot.pk]
            if (
                entry.earliest <= when.date() <= entry.latest
                and in_time_of_day(when.hour, entry.time_of_day)
                and (not wanted_providers or slot.provider_id in wanted_providers)
                and (not wanted_locations or slot.location_id in wanted_locations)
                and runs[slot.pk] >= need
                and _rules_allow(entry, slot, now)
            ):
                matches.append(
                    WaitlistMatch(
                        entry_id=entry.pk,
                        patient_id=entry.patient_id,
                        patient_name=str(entry.patient),
                        appointment_type_id=entry.appointment_type_id,
                        appointment_type=entry.appointment_type.name,
                        slot_id=slot.pk,
                        start=slot.start,
                        local_start=when,
                        location_id=slot.location_id,
                        location=slot.location.name,
                        provider_id=slot.provider_id,
                        provider=str(slot.provider),
                        earliest=entry.earliest,
                        latest=entry.latest,
                        time_of_day=entry.time_of_day,
                    )
                )
                break
    return matches


def _rules_allow(entry: Waitlist, slot: Slot, now: datetime) -> bool:
    """The slot finder's hard rules for this patient, visit type and slot (network,
    capability, equipment, age, new patients, hours...): an agent is never offered a
    waiting patient the rules would refuse to book there."""
    judged = slot_judgement(
        patient=entry.patient, appointment_type=entry.appointment_type, slot=slot, now=now
    )
    return judged is not None and not judged[1].excluded


def waitlist_matches_for_slot(*, slot: Slot) -> list[WaitlistMatch]:
    return waitlist_matches_for_slots(slot_ids=[slot.pk])


def waitlist_open_for_patient(*, patient_id: int) -> list[Waitlist]:
    """The patient's entries still waiting or offered a slot, with what they wait for."""
    entries = _open_for_patient.rows(patient_id=patient_id)
    if entries:
        prefetch_related_objects(entries, "locations", "providers")
    return entries


# Read for every patient the console opens: compiled once per connection
# (config.compiled), which takes no prefetch, so the two lists are fetched after it.
_open_for_patient: Compiled[Waitlist] = Compiled(
    lambda patient_id: Waitlist.objects.filter(
        patient_id=patient_id, status__in=[Waitlist.Status.OPEN, Waitlist.Status.OFFERED]
    ).select_related("appointment_type"),
    patient_id=stand_in_id(),
)


def waitlist_matches_recently_freed(
    *, since: datetime, region_id: int | None = None, limit: int = 200
) -> list[WaitlistMatch]:
    """Waitlist matches for future time freed since ``since`` by any cancellation or
    move, whoever made it: an agent, a partner app, FHIR, or a location's front desk
    (an SIU S15 from its PMS). What an agent's own cancellation shows at once, every
    agent sees here. ``region_id`` keeps to one region's locations."""
    now = timezone.now()
    if region_id is None:
        slot_ids = _freed((limit, False)).rows(since=since, now=now)
    else:
        slot_ids = _freed((limit, True)).rows(since=since, now=now, region_id=region_id)
    return waitlist_matches_for_slots(slot_ids=slot_ids) if slot_ids else []


def _freed_slots(
    since: datetime, now: datetime, limit: int, region_id: int | None = None
) -> QuerySet[Slot, int]:
    freed = Slot.objects.filter(
        status=Slot.Status.FREE,
        start__gt=now,
        appointment_links__active=False,
        appointment_links__appointment__cancelled_at__gte=since,
    )
    if region_id is not None:
        freed = freed.filter(location__region_id=region_id)
    return freed.order_by("start").values_list("pk", flat=True).distinct()[:limit]


def _compiled_freed(key: tuple[int, bool]) -> Compiled[int]:
    limit, regional = key
    stand_ins: dict[str, Any] = {"since": stand_in_moment(), "now": stand_in_moment()}
    if regional:
        stand_ins["region_id"] = stand_in_id()
    return Compiled(lambda **values: _freed_slots(limit=limit, **values), **stand_ins)


# Every worklist poll reads it: compiled once per connection, per limit (written into the
# SQL) and per shape (with or without a region).
_freed: CompiledPer[tuple[int, bool], int] = CompiledPer(_compiled_freed)
