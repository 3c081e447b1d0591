"""The facts slot search needs about a visit's resources besides its provider.

Two steps, so that a visit that needs only a provider pays one small query:
``visit_resources`` (before locations are judged) says which locations have the second
staff member and the mobile equipment at all; ``with_resource_times`` (after the free
provider units are read) reads, for just those units' locations and time span, the
second staff's free units, the fitting rooms' busy times and the equipment's bookings.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.db.models import Q

from ..models import Appointment, MobileEquipment, ResourceBooking, Room, Slot
from ..rules.base import LocationFacts, RuleContext, Span, StaffSpan, VisitResources
from ..rules.equipment import required_equipment
from ..rules.registry import Judgement
from ..rules.resources import SlotResourcesRule
from ..rules.snapshot import NetworkSnapshot
from .holds import live_holds
from .slot_reads import EPOCH, SlotRow
from .slot_results import Excluded

# The longest slot unit a template may make (ScheduleTemplate.slot_minutes).
MAX_UNIT_MINUTES = 240


def with_visit_resources(snapshot: NetworkSnapshot, ctx: RuleContext) -> RuleContext:
    """The context with where the second staff member and the mobile equipment are (the
    same context when the visit needs neither). Staff come from the cached snapshot;
    equipment is one query."""
    visit = ctx.appointment_type
    if not visit.multi_resource:
        return ctx
    staff_ids: frozenset[int] = frozenset()
    staffed: set[int] = set()
    if visit.assistant_capability:
        key = ("staff", visit.assistant_capability)
        cached = snapshot.memo.get(key)
        if cached is None:
            cached = frozenset(
                pk
                for pk, prov in snapshot.providers.items()
                if visit.assistant_capability in prov.capabilities
            )
            snapshot.memo[key] = cached
        staff_ids = cached
        for pk in staff_ids:
            staffed.update(snapshot.served.get(pk, ()))
    name, served = "", frozenset[int]()
    if visit.mobile_equipment:
        rows = list(
            MobileEquipment.serves.through.objects.filter(
                mobileequipment__code=visit.mobile_equipment, mobileequipment__active=True
            ).values_list("mobileequipment__name", "location_id")
        )
        name = rows[0][0] if rows else visit.mobile_equipment
        served = frozenset(loc for _, loc in rows)
    resources = VisitResources(
        staff_ids=staff_ids, staffed=frozenset(staffed), equipment_name=name, equipment_at=served
    )
    return dataclasses.replace(ctx, resources=resources)


def resource_miss(misses: dict[int, str], location_id: int, hard: Judgement) -> None:
    """Remember why a start at a location lacked a resource (the first reason wins)."""
    if location_id not in misses:
        for exclusion in hard.exclusions:
            if exclusion.rule == SlotResourcesRule.key:
                misses[location_id] = exclusion.reason
                return


def resource_exclusions(
    misses: Mapping[int, str], locations: Mapping[int, LocationFacts]
) -> list[Excluded]:
    """Locations that had the provider free but never every other resource, listed as
    excluded with the resource that was missing."""
    return [
        Excluded(
            kind="location",
            id=loc_id,
            name=locations[loc_id].name,
            reasons=(reason,),
            rules=(SlotResourcesRule.key,),
        )
        for loc_id, reason in sorted(misses.items())
    ]


def _staff_free(
    staff_ids: Iterable[int],
    locations: set[int],
    lo: datetime,
    hi: datetime,
    *,
    now: datetime,
    agent_id: int | None,
) -> dict[int, tuple[StaffSpan, ...]]:
    """Each location's runs of back-to-back free units of the second staff, unheld by
    other agents (the searching agent's own holds count as free, as for providers)."""
    held = live_holds(now)
    if agent_id is not None:
        held = held.exclude(held_by_id=agent_id)
    rows = (
        Slot.objects.filter(
            provider_id__in=list(staff_ids),
            location_id__in=locations,
            status=Slot.Status.FREE,
            # A unit may start before the first candidate and still cover it.
            start__gte=lo - timedelta(minutes=MAX_UNIT_MINUTES),
            start__lt=hi,
        )
        .exclude(pk__in=held.values("slot_id"))
        .order_by("provider_id", "location_id", "start")
        .values_list("provider_id", "location_id", "start", "end")
    )
    runs: dict[int, list[StaffSpan]] = defaultdict(list)
    for pid, loc, start, end in rows:
        here = runs[loc]
        if here and here[-1][0] == pid and here[-1][2] == start:
            here[-1] = (pid, here[-1][1], end)
        else:
            here.append((pid, start, end))
    return {loc: tuple(spans) for loc, spans in runs.items()}


def _room_busy(
    ctx: RuleContext,
    locations: Mapping[int, LocationFacts],
    lo: datetime,
    hi: datetime,
    *,
    all_rooms: bool,
) -> dict[int, tuple[tuple[Span, ...], ...]]:
    """Busy spans of each fitting room, per location. ``all_rooms``: every location that
    models rooms (a multi-resource visit); otherwise only locations with a room block in
    the span, so a plain visit pays one small query when nothing is blocked."""
    with_rooms = {pk for pk, loc in locations.items() if loc.rooms}
    if not with_rooms:
        return {}
    if not all_rooms:
        with_rooms = set(
            ResourceBooking.objects.filter(
                active=True, room__location_id__in=with_rooms, start__lt=hi, end__gt=lo
            ).values_list("room__location_id", flat=True)
        )
        if not with_rooms:
            return {}
    needed = required_equipment(ctx)
    equipment: dict[int, set[str]] = defaultdict(set)
    room_location = dict(
        Room.objects.filter(location_id__in=with_rooms).values_list("pk", "location_id")
    )
    for room_id, code in Room.equipment.through.objects.filter(
        room_id__in=list(room_location)
    ).values_list("room_id", "equipment__code"):
        equipment[room_id].add(code)
    fitting = [pk for pk in room_location if needed <= equipment[pk]]
    busy: dict[int, list[Span]] = {pk: [] for pk in fitting}
    for room_id, start, end in Appointment.objects.filter(
        room_id__in=fitting, status__in=Appointment.ACTIVE_STATUSES, start__lt=hi, end__gt=lo
    ).values_list("room_id", "start", "end"):
        busy[room_id].append((start, end))
    for room_id, start, end in ResourceBooking.objects.filter(
        room_id__in=fitting, active=True, start__lt=hi, end__gt=lo
    ).values_list("room_id", "start", "end"):
        busy[room_id].append((start, end))
    by_location: dict[int, list[tuple[Span, ...]]] = {loc: [] for loc in with_rooms}
    for room_id, spans in busy.items():
        by_location[room_location[room_id]].append(tuple(spans))
    return {loc: tuple(rooms) for loc, rooms in by_location.items()}


def with_resource_times(
    ctx: RuleContext,
    rows: list[SlotRow],
    *,
    visit: timedelta,
    locations: Mapping[int, LocationFacts],
    now: datetime,
    agent_id: int | None,
) -> RuleContext:
    """The context with the resources' free and busy times over the span of ``rows``
    (the provider units the search will rank)."""
    if not rows:
        return ctx
    lo = EPOCH + timedelta(microseconds=min(r[3] for r in rows))
    hi = EPOCH + timedelta(microseconds=max(r[3] for r in rows)) + visit
    here = {r[2] for r in rows}
    res, type_facts = ctx.resources, ctx.appointment_type
    multi = res is not None
    rooms = _room_busy(
        ctx, {pk: loc for pk, loc in locations.items() if pk in here}, lo, hi, all_rooms=multi
    )
    if res is None:
        if not rooms:
            return ctx
        return dataclasses.replace(ctx, resources=VisitResources(rooms=rooms))
    staff_free: dict[int, tuple[StaffSpan, ...]] = {}
    if type_facts.assistant_capability and res.staff_ids:
        staff_free = _staff_free(res.staff_ids, here, lo, hi, now=now, agent_id=agent_id)
    equipment_busy: tuple[Span, ...] = ()
    if type_facts.mobile_equipment:
        equipment_busy = tuple(
            ResourceBooking.objects.filter(
                Q(equipment__code=type_facts.mobile_equipment),
                active=True,
                start__lt=hi,
                end__gt=lo,
            ).values_list("start", "end")
        )
    return dataclasses.replace(
        ctx,
        resources=dataclasses.replace(
            res, staff_free=staff_free, rooms=rooms, equipment_busy=equipment_busy
        ),
    )
