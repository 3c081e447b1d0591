"""Rooms: the one an agent's booking takes (``room_pick``), and for bookings the front
desk made, the room it named or the best free fit (``rooms_assign``).

A booking from a location's PMS is already made, so a room is never a reason to refuse
it; but it must occupy one, or the hub's own room choice would keep offering the rooms
the front desk has already filled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from config.compiled import Compiled, stand_in_id
from config.prepared import prepared_cursor

from ..models import Appointment, AppointmentType, ResourceBooking, Room
from .errors import RoomUnavailable


@dataclass(frozen=True)
class RoomNeed:
    location_id: int
    start: datetime
    end: datetime
    appointment_type_id: int
    # The room the PMS named (HL7 AIL-3.2, the PL room component), "" when none.
    room_code: str = ""
    # The appointment being moved: its own current room does not count as busy.
    appointment_id: int | None = None


def rooms_assign(*, needs: Sequence[RoomNeed]) -> list[Room | None]:
    """One room (or None) per need, in order, each free of every active appointment and
    of the rooms given to the needs before it.

    The named room when it is at the location and free; otherwise the least-equipped
    free room with the visit type's equipment (keeps the CBCT room for the visits that
    need it); None for a telehealth visit, when the location does not model rooms or
    when none is free. Precondition:
    inside a transaction. Room rows are locked (lock order: after slots, holds and the
    patient), so two bookings at one location do not pick the same room.
    """
    if not needs:
        return []
    # A video visit occupies no room.
    video = set(
        AppointmentType.objects.filter(
            pk__in={n.appointment_type_id for n in needs}, telehealth=True
        ).values_list("pk", flat=True)
    )
    rooms = list(
        Room.objects.select_for_update()
        .filter(location_id__in={n.location_id for n in needs})
        .order_by("id")
    )
    if not rooms:
        return [None] * len(needs)
    room_ids = [r.pk for r in rooms]
    equipment: dict[int, set[str]] = defaultdict(set)
    for room_id, code in Room.equipment.through.objects.filter(room_id__in=room_ids).values_list(
        "room_id", "equipment__code"
    ):
        equipment[room_id].add(code)
    required: dict[int, set[str]] = defaultdict(set)
    for type_id, code in AppointmentType.required_equipment.through.objects.filter(
        appointmenttype_id__in={n.appointment_type_id for n in needs}
    ).values_list("appointmenttype_id", "equipment__code"):
        required[type_id].add(code)
    busy: dict[int, list[tuple[datetime, datetime, int | None]]] = defaultdict(list)
    for room_id, start, end, pk in Appointment.objects.filter(
        room_id__in=room_ids,
        status__in=Appointment.ACTIVE_STATUSES,
        start__lt=max(n.end for n in needs),
        end__gt=min(n.start for n in needs),
    ).values_list("room_id", "start", "end", "pk"):
        busy[room_id].append((start, end, pk))
    # Blocks (sterilization, maintenance) keep a room from the front desk's bookings too.
    for room_id, start, end in ResourceBooking.objects.filter(
        room_id__in=room_ids,
        active=True,
        start__lt=max(n.end for n in needs),
        end__gt=min(n.start for n in needs),
    ).values_list("room_id", "start", "end"):
        busy[room_id].append((start, end, None))

    def free(room: Room, need: RoomNeed) -> bool:
        return not any(
            start < need.end and end > need.start and (pk is None or pk != need.appointment_id)
            for start, end, pk in busy[room.pk]
        )

    chosen: list[Room | None] = []
    for need in needs:
        if need.appointment_type_id in video:
            chosen.append(None)
            continue
        here = [r for r in rooms if r.location_id == need.location_id]
        named = next((r for r in here if need.room_code and r.code == need.room_code), None)
        if named is not None and free(named, need):
            room: Room | None = named
        else:
            fitting = [
                r
                for r in here
                if required[need.appointment_type_id] <= equipment[r.pk] and free(r, need)
            ]
            room = min(fitting, key=lambda r: (len(equipment[r.pk]), r.pk)) if fitting else None
        if room is not None:
            busy[room.pk].append((need.start, need.end, None))
        chosen.append(room)
    return chosen


# Every booking locks its location's rooms: compiled once (config.compiled).
_rooms_locked: Compiled[tuple[int, str, str, str | None]] = Compiled(
    lambda location_id: (
        Room.objects.select_for_update(of=("self",))
        .filter(location_id=location_id)
        .order_by("id", "equipment__code")
        .values_list("id", "code", "name", "equipment__code")
    ),
    location_id=stand_in_id(),
)


def _rooms_busy_query(room_ids: list[int], start: datetime, end: datetime) -> QuerySet[Any]:
    return (
        Appointment.objects.filter(
            room_id__in=room_ids,
            status__in=Appointment.ACTIVE_STATUSES,
            start__lt=end,
            end__gt=start,
        )
        .order_by()
        .values_list("room_id", flat=True)
        .union(
            ResourceBooking.objects.filter(
                room_id__in=room_ids, active=True, start__lt=end, end__gt=start
            )
            .order_by()
            .values_list("room_id", flat=True)
        )
    )


def _active_statuses_sql() -> str:
    # Written into the statement, never bound: only literal statuses let PostgreSQL's
    # generic plan of the prepared statement see that the partial index applies.
    statuses = [str(s) for s in Appointment.ACTIVE_STATUSES]
    if not all(s.isalpha() for s in statuses):  # plain words are safe to write inline
        raise ValueError(f"statuses must be plain words to write into SQL: {statuses}")
    return ", ".join(f"'{s}'" for s in statuses)


# Which of the (locked) rooms an active appointment or block overlaps, on PostgreSQL: each
# room probes the GiST indexes of the exclusion constraints ``appointment_room_no_overlap``
# and ``resource_booking_room_no_overlap`` by room and time range, a handful of index
# pages. The queryset above reads the same rows, but PostgreSQL answers it from the room
# id alone and filters the room's whole history by time: 1.8 ms with the generic plan
# and up to 20 ms with a custom one on the bench's network (the GiST index scanned in
# full), growing with every booking; this form reads 12 pages in 0.1 ms. The statuses
# must be the partial index's predicate, as migration 0002 wrote it: ACTIVE_STATUSES.
_ROOMS_BUSY_SQL = f"""
    SELECT r.id FROM unnest(%(rooms)s::bigint[]) AS r(id)
     WHERE EXISTS (
             SELECT FROM {Appointment._meta.db_table} a
              WHERE a.room_id = r.id AND a.status IN ({_active_statuses_sql()})
                AND tstzrange(a.start, a."end", '[)')
                    && tstzrange(%(start)s::timestamptz, %(end)s::timestamptz, '[)'))
        OR EXISTS (
             SELECT FROM {ResourceBooking._meta.db_table} b
              WHERE b.room_id = r.id AND b.active
                AND tstzrange(b.start, b."end", '[)')
                    && tstzrange(%(start)s::timestamptz, %(end)s::timestamptz, '[)'))
"""  # noqa: S608 (table names from the models, statuses checked above; values are bound)


def _rooms_busy(room_ids: list[int], start: datetime, end: datetime) -> set[int]:
    """The ids among ``room_ids`` taken between ``start`` and ``end``: the queryset's
    answer, read through the exclusion constraints' indexes on PostgreSQL."""
    if connection.vendor != "postgresql":
        return set(_rooms_busy_query(room_ids, start, end))
    with prepared_cursor() as cursor:
        cursor.execute(_ROOMS_BUSY_SQL, {"rooms": room_ids, "start": start, "end": end})
        return {room_id for (room_id,) in cursor.fetchall()}


def room_pick(
    *, location_id: int, needed: frozenset[str], start: datetime, end: datetime
) -> Room | None:
    """The least-equipped free room that has everything needed (keeps the CBCT room for
    the visits that need it). None when the location does not model rooms.

    Room rows are locked so two bookings at one location cannot pick the same room; the
    PostgreSQL exclusion constraint ``appointment_room_no_overlap`` backs this up.
    """
    # The rooms, locked by id, with their equipment in the same statement (one row per
    # room and piece of equipment; FOR UPDATE OF the room rows only).
    rooms: dict[int, Room] = {}
    equipment: dict[int, set[str]] = {}
    for room_id, code, name, piece in _rooms_locked.rows(location_id=location_id):
        if room_id not in rooms:
            rooms[room_id] = Room.from_db(
                Room.objects.db,
                ["id", "location_id", "code", "name"],
                [room_id, location_id, code, name],
            )
            equipment[room_id] = set()
        if piece is not None:
            equipment[room_id].add(piece)
    if not equipment:
        return None
    # Read after the lock (a statement of its own, so it sees what the booking that held
    # the lock committed): rooms taken by an appointment or a resource booking meanwhile.
    busy = _rooms_busy(list(equipment), start, end)
    fitting = [pk for pk, codes in equipment.items() if needed <= codes and pk not in busy]
    if not fitting:
        raise RoomUnavailable()
    return rooms[min(fitting, key=lambda pk: (len(equipment[pk]), pk))]
