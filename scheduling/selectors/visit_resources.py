"""The facts slot search needs about a visit's resources besides its provider.

Two steps, so that a visit that needs only a provider pays at most one small query:
``with_visit_resources`` (before locations are judged) says which locations have the
second staff member, the mobile equipment and fitting rooms at all; ``resource_loader``
(after the free provider units are read) returns a loader that, for each batch of ranked
starts the search is about to judge, reads just around those starts the second staff's
free units, the fitting rooms' busy times and the equipment's bookings. Starts below the
last one shown are never judged, so their resources are never read.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from operator import itemgetter
from typing import Any

from django.db import connection

from ..models import Appointment, MobileEquipment, ResourceBooking, Room, Slot
from ..rules.base import (
    Candidate,
    LocationFacts,
    RuleContext,
    Span,
    StaffSpan,
    VisitResources,
)
from ..rules.equipment import required_equipment
from ..rules.registry import Judgement
from ..rules.resources import SlotResourcesRule
from ..rules.snapshot import NetworkSnapshot
from .holds import live_holds
from .slot_reads import EPOCH, SlotRead, SlotRow
from .slot_results import Excluded

# The longest slot unit a template may make (ScheduleTemplate.slot_minutes): a staff
# unit that covers a start began at most this long before it.
MAX_UNIT_MINUTES = 240
# Ranked starts whose resources are read together: enough that most searches need one
# batch (about 1.2 per search on the large network; 40 made it 2.1).
BATCH = 80
# (location id, start, end) of one start being judged.
Window = tuple[int, datetime, datetime]
Loader = Callable[[RuleContext, Sequence[Candidate]], RuleContext]


def _fitting_rooms(
    ctx: RuleContext, location_ids: Iterable[int] | None
) -> dict[int, tuple[int, ...]]:
    """Each location's rooms that hold every piece of equipment the visit needs."""
    needed = required_equipment(ctx)
    rooms = Room.objects.all()
    if location_ids is not None:
        rooms = rooms.filter(location_id__in=list(location_ids))
    room_location = dict(rooms.values_list("pk", "location_id"))
    equipment: dict[int, set[str]] = defaultdict(set)
    if needed:
        for room_id, code in Room.equipment.through.objects.filter(
            room_id__in=list(room_location)
        ).values_list("room_id", "equipment__code"):
            equipment[room_id].add(code)
    fitting: dict[int, list[int]] = defaultdict(list)
    for room_id, loc in sorted(room_location.items()):
        if needed <= equipment[room_id]:
            fitting[loc].append(room_id)
    # A location whose rooms all lack the equipment is in the map with no rooms: the
    # location rules exclude it first; if they are switched off, no start there passes.
    return {loc: tuple(fitting.get(loc, ())) for loc in set(room_location.values())}


def _mobile_equipment(snapshot: NetworkSnapshot, code: str) -> tuple[str, frozenset[int]]:
    """The portable equipment's name and the locations it serves, kept in the snapshot's
    memo: its rows move the network's version like the rest of the network."""
    key = ("mobile-equipment", code)
    found: tuple[str, frozenset[int]] | None = snapshot.memo.get(key)
    if found is None:
        rows = list(
            MobileEquipment.serves.through.objects.filter(
                mobileequipment__code=code, mobileequipment__active=True
            ).values_list("mobileequipment__name", "location_id")
        )
        found = (rows[0][0] if rows else code, frozenset(loc for _, loc in rows))
        snapshot.memo[key] = found
    return found


def with_visit_resources(snapshot: NetworkSnapshot, ctx: RuleContext) -> RuleContext:
    """The context with where the second staff member, the mobile equipment and fitting
    rooms are (the same context when the visit needs only a provider). Staff and rooms
    are derived once per network snapshot; equipment is one query."""
    visit = ctx.appointment_type
    if not visit.multi_resource:
        return ctx
    staff_at: dict[int, tuple[int, ...]] = {}
    if visit.assistant_capability:
        key = ("staff", visit.assistant_capability)
        cached = snapshot.memo.get(key)
        if cached is None:
            at: dict[int, list[int]] = defaultdict(list)
            for pk, prov in sorted(snapshot.providers.items()):
                if visit.assistant_capability in prov.capabilities:
                    for loc in snapshot.served.get(pk, ()):
                        at[loc].append(pk)
            cached = {loc: tuple(pks) for loc, pks in at.items()}
            snapshot.memo[key] = cached
        staff_at = cached
    rooms_key = ("fitting-rooms", required_equipment(ctx))
    fitting = snapshot.memo.get(rooms_key)
    if fitting is None:
        fitting = _fitting_rooms(ctx, None)
        snapshot.memo[rooms_key] = fitting
    name, served = "", frozenset[int]()
    if visit.mobile_equipment:
        name, served = _mobile_equipment(snapshot, visit.mobile_equipment)
    resources = VisitResources(
        staff_at=staff_at,
        fitting_rooms=fitting,
        equipment_name=name,
        equipment_at=served,
    )
    return dataclasses.replace(ctx, resources=resources)


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _at(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


# Around each window, in one round trip: the second staff's free units that overlap it,
# unheld by other agents (kind 0: provider, location, start, end), and the visits and
# blocks in each fitting room that overlap it (kind 1: room, 0, start, end). Times are
# integer microseconds (see slot_reads on why). The lateral joins make each window one
# short range on slot_free_pair_start_idx per staff member and one GiST probe per room
# on the exclusion constraints' indexes, instead of a hash join over the horizon.
_BATCH_SQL = """
    (SELECT DISTINCT 0, s.provider_id, s.location_id,
            (extract(epoch FROM s.start) * 1000000)::bigint,
            (extract(epoch FROM s."end") * 1000000)::bigint
     FROM unnest(%(pids)s::int[], %(lids)s::int[], %(los)s::timestamptz[],
                 %(his)s::timestamptz[]) AS w(pid, lid, lo, hi)
     CROSS JOIN LATERAL (
         SELECT s.id, s.provider_id, s.location_id, s.start, s."end"
         FROM scheduling_slot s
         WHERE s.provider_id = w.pid AND s.location_id = w.lid AND s.status = 'free'
           AND s.start >= w.lo - %(unit)s::interval AND s.start < w.hi AND s."end" > w.lo
     ) s
     WHERE NOT EXISTS (
         SELECT 1 FROM scheduling_hold h
         WHERE h.slot_id = s.id AND h.released_at IS NULL AND h.consumed_at IS NULL
           AND h.expires_at > %(now)s AND h.held_by_id IS DISTINCT FROM %(agent)s))
    UNION ALL
    (SELECT 1, b.room_id, 0, (extract(epoch FROM b.start) * 1000000)::bigint,
            (extract(epoch FROM b."end") * 1000000)::bigint
     FROM unnest(%(rids)s::int[], %(rlos)s::timestamptz[], %(rhis)s::timestamptz[])
          AS w(rid, lo, hi)
     CROSS JOIN LATERAL (
         SELECT a.room_id, a.start, a."end" FROM scheduling_appointment a
         WHERE a.room_id = w.rid AND a.status IN ('booked', 'arrived') AND a.room_id IS NOT NULL
           AND tstzrange(a.start, a."end", '[)') && tstzrange(w.lo, w.hi, '[)')
         UNION ALL
         SELECT r.room_id, r.start, r."end" FROM scheduling_resourcebooking r
         WHERE r.room_id = w.rid AND r.active AND r.room_id IS NOT NULL
           AND tstzrange(r.start, r."end", '[)') && tstzrange(w.lo, w.hi, '[)')
     ) b)
"""
Units = list[tuple[int, int, int, int]]


def _merged(windows: list[Window]) -> list[Window]:
    """Overlapping or touching windows at one location as one."""
    out: list[Window] = []
    for loc, lo, hi in sorted(windows):
        if out and out[-1][0] == loc and lo <= out[-1][2]:
            out[-1] = (loc, out[-1][1], max(hi, out[-1][2]))
        else:
            out.append((loc, lo, hi))
    return out


def _staff_free(units: list[tuple[int, int, int, int]]) -> dict[int, tuple[StaffSpan, ...]]:
    """Each location's runs of back-to-back units per staff member."""
    runs: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for pid, loc, start, end in sorted(units):
        here = runs[loc]
        if here and here[-1][0] == pid and here[-1][2] == start:
            here[-1] = (pid, here[-1][1], end)
        elif not here or here[-1] != (pid, start, end):
            here.append((pid, start, end))
    return {
        loc: tuple((pid, _at(lo), _at(hi)) for pid, lo, hi in spans) for loc, spans in runs.items()
    }


def _read_postgres(
    staff_probes: list[tuple[int, int, datetime, datetime]],
    room_probes: list[tuple[int, datetime, datetime]],
    *,
    now: datetime,
    agent_id: int | None,
) -> tuple[Units, Units]:
    with connection.cursor() as cursor:
        cursor.execute(
            _BATCH_SQL,
            {
                "pids": [p[0] for p in staff_probes],
                "lids": [p[1] for p in staff_probes],
                "los": [p[2] for p in staff_probes],
                "his": [p[3] for p in staff_probes],
                "unit": f"{MAX_UNIT_MINUTES} minutes",
                "now": now,
                "agent": agent_id,
                "rids": [p[0] for p in room_probes],
                "rlos": [p[1] for p in room_probes],
                "rhis": [p[2] for p in room_probes],
            },
        )
        rows = cursor.fetchall()
    staff = [(a, b, c, d) for kind, a, b, c, d in rows if kind == 0]
    rooms = [(a, b, c, d) for kind, a, b, c, d in rows if kind == 1]
    return staff, rooms


def _read_portable(
    staff_probes: list[tuple[int, int, datetime, datetime]],
    room_probes: list[tuple[int, datetime, datetime]],
    *,
    now: datetime,
    agent_id: int | None,
) -> tuple[Units, Units]:
    """The same rows through the ORM, for SQLite (small embedded networks)."""
    staff: Units = []
    if staff_probes:
        held = live_holds(now)
        if agent_id is not None:
            held = held.exclude(held_by_id=agent_id)
        units = (
            Slot.objects.filter(
                provider_id__in={p[0] for p in staff_probes},
                location_id__in={p[1] for p in staff_probes},
                status=Slot.Status.FREE,
                start__gte=min(p[2] for p in staff_probes) - timedelta(minutes=MAX_UNIT_MINUTES),
                start__lt=max(p[3] for p in staff_probes),
            )
            .exclude(pk__in=held.values("slot_id"))
            .values_list("provider_id", "location_id", "start", "end")
        )
        staff = [
            (pid, loc, _micros(start), _micros(end))
            for pid, loc, start, end in units
            if any(
                p[0] == pid and p[1] == loc and start < p[3] and end > p[2] for p in staff_probes
            )
        ]
    rooms: Units = []
    if room_probes:
        ids = sorted({p[0] for p in room_probes})
        lo, hi = min(p[1] for p in room_probes), max(p[2] for p in room_probes)
        for model, active in (
            (Appointment, {"status__in": Appointment.ACTIVE_STATUSES}),
            (ResourceBooking, {"active": True}),
        ):
            for room_id, start, end in model.objects.filter(
                room_id__in=ids, start__lt=hi, end__gt=lo, **active
            ).values_list("room_id", "start", "end"):
                rooms.append((room_id, 0, _micros(start), _micros(end)))
    return staff, rooms


def _load(
    ctx: RuleContext,
    cands: Sequence[Candidate],
    *,
    rooms: Mapping[int, tuple[int, ...]],
    equipment_busy: tuple[Span, ...],
    now: datetime,
    agent_id: int | None,
) -> RuleContext:
    """The context with the resources' times around these candidate starts."""
    windows = _merged(
        [(c.location.id, c.slot.start, c.slot.end) for c in cands if c.slot is not None]
    )
    res = ctx.resources or VisitResources()
    staff_probes = []
    if ctx.appointment_type.assistant_capability:
        staff_probes = [(pid, *w) for w in windows for pid in res.staff_at.get(w[0], ())]
    room_probes = [(rid, lo, hi) for loc, lo, hi in windows for rid in rooms.get(loc, ())]
    read = _read_postgres if connection.vendor == "postgresql" else _read_portable
    staff, busy_rows = (
        read(staff_probes, room_probes, now=now, agent_id=agent_id)
        if staff_probes or room_probes
        else ([], [])
    )
    busy: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for room_id, _, lo, hi in busy_rows:
        busy[room_id].add((lo, hi))
    room_busy = {
        loc: tuple(
            tuple((_at(a), _at(b)) for a, b in sorted(busy.get(rid, ()))) for rid in rooms[loc]
        )
        for loc in {w[0] for w in windows}
        if loc in rooms
    }
    resources = dataclasses.replace(
        res, staff_free=_staff_free(staff), rooms=room_busy, equipment_busy=equipment_busy
    )
    return dataclasses.replace(ctx, resources=resources)


def resource_loader(
    ctx: RuleContext,
    rows: list[SlotRow],
    *,
    read: SlotRead,
    locations: Mapping[int, LocationFacts],
    agent_id: int | None,
) -> Loader | None:
    """What reads the resources for a batch of ranked starts (None: nothing to read).

    A visit that needs only a provider is checked for rooms only at locations with a
    room block (sterilization, maintenance) around the window: the search read which
    have one with the patient's facts (PostgreSQL), else one small query over the span
    of ``rows``. The mobile equipment's bookings over that span are read once here.
    """
    if not rows:
        return None
    visit, now = read.visit, read.now
    here = set(map(itemgetter(2), rows))
    starts = list(map(itemgetter(3), rows))
    lo, hi = _at(min(starts)), _at(max(starts)) + visit
    equipment_busy: tuple[Span, ...] = ()
    if ctx.resources is not None:
        fitting = ctx.resources.fitting_rooms
        rooms = {loc: fitting[loc] for loc in here if loc in fitting and locations[loc].rooms}
        if ctx.appointment_type.mobile_equipment:
            equipment_busy = tuple(
                ResourceBooking.objects.filter(
                    equipment__code=ctx.appointment_type.mobile_equipment,
                    active=True,
                    start__lt=hi,
                    end__gt=lo,
                ).values_list("start", "end")
            )
    else:
        # The window's set is a superset of the span's: the loader reads the blocks.
        blocked = (
            read.room_blocked & here
            if read.room_blocked is not None
            else set(
                ResourceBooking.objects.filter(
                    active=True, room__location_id__in=here, start__lt=hi, end__gt=lo
                ).values_list("room__location_id", flat=True)
            )
        )
        if not blocked:
            return None
        rooms = _fitting_rooms(ctx, blocked)
    loader: Any = partial(
        _load, rooms=rooms, equipment_busy=equipment_busy, now=now, agent_id=agent_id
    )
    return loader


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


def resource_taken(
    *,
    start: datetime,
    end: datetime,
    room: Room | None = None,
    equipment: MobileEquipment | None = None,
) -> bool:
    """Whether a visit or a block already has the room (or the equipment) in [start, end).
    Callers that then write hold the resource's row lock (``resource_block_create``)."""
    if room is not None:
        return (
            Appointment.objects.filter(
                room=room, status__in=Appointment.ACTIVE_STATUSES, start__lt=end, end__gt=start
            ).exists()
            or ResourceBooking.objects.filter(
                room=room, active=True, start__lt=end, end__gt=start
            ).exists()
        )
    return ResourceBooking.objects.filter(
        equipment=equipment, active=True, start__lt=end, end__gt=start
    ).exists()
