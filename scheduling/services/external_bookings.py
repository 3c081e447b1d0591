"""A worker's run of front-desk bookings (SIU^S12) recorded set-based, with the effects
of ``appointment_record_external`` one by one.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.audit import bulk_audit_possible, log_creates

from .. import signals
from ..models import Appointment, AppointmentSlot, AppointmentType, Slot
from ..selectors.holds import open_holds
from .errors import SchedulingError, SlotUnavailable, SlotWrongFit
from .external import external_windows_lock
from .rooms import RoomNeed, rooms_assign
from .waitlist import waitlist_fill


@dataclass(frozen=True)
class ExternalBooking:
    """One front-desk booking of a batch (the arguments of appointment_record_external)."""

    patient_id: int
    provider_id: int
    location_id: int
    appointment_type_id: int
    start: datetime
    end: datetime
    external_id: str = ""
    origin_connector_id: int | None = None
    room_code: str = ""


class BatchDeclined(Exception):
    """The batch path cannot reproduce the one-by-one effects right now (auditlog or
    signal hooks it does not know): the caller records the bookings one at a time."""


def appointments_record_external_batch(
    items: list[ExternalBooking],
) -> list[Appointment | SchedulingError]:
    """``appointment_record_external`` for a worker's run of PMS bookings, with the same
    effects in a handful of statements instead of ~20 per booking.

    Decisions are made in arrival order, as one-by-one calls would make them: a booking
    whose units are booked, at another location, or taken by an EARLIER booking of the
    batch gets its error back (SlotUnavailable, SlotWrongFit) and writes nothing; a
    repeated (location, external id) returns the first row. Every unit is locked in one
    statement, in start order like the single path. Appointments, unit links and auditlog
    entries are bulk-written, and ``appointments_booked`` goes to the receivers once
    (integrations writes the outbox events from it, in one statement). A database error
    (PostgreSQL's exclusion constraint against an overlapping appointment outside the
    slot grid, say) propagates: the caller runs this in a savepoint and falls back to
    one booking at a time.
    """
    if not bulk_audit_possible() or not signals.bulk_receivers_ready():
        raise BatchDeclined()
    results: list[Appointment | SchedulingError | None] = [None] * len(items)
    now = timezone.now()
    valid: list[int] = []
    for idx, item in enumerate(items):
        if timezone.is_naive(item.start) or timezone.is_naive(item.end) or item.end <= item.start:
            results[idx] = SlotWrongFit()
        else:
            valid.append(idx)
    with transaction.atomic():
        known: dict[tuple[int, str], Appointment] = {}
        wanted = {
            (items[i].location_id, items[i].external_id) for i in valid if items[i].external_id
        }
        if wanted:
            for row in Appointment.objects.filter(
                location_id__in={loc for loc, _ in wanted},
                external_id__in={ext for _, ext in wanted},
            ):
                if (row.location_id, row.external_id) in wanted:
                    known[(row.location_id, row.external_id)] = row
        windows = [
            (items[i].provider_id, items[i].start, items[i].end)
            for i in valid
            if (items[i].location_id, items[i].external_id) not in known
        ]
        by_provider: dict[int, list[Slot]] = defaultdict(list)
        for unit in external_windows_lock(windows=windows):
            by_provider[unit.provider_id].append(unit)
        taken: set[int] = set()
        booked: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
        plan: list[tuple[Appointment, list[Slot], int | None]] = []
        plan_rooms: list[str] = []
        for idx in valid:
            item = items[idx]
            key = (item.location_id, item.external_id)
            if item.external_id and key in known:
                results[idx] = known[key]
                continue
            units = [
                u
                for u in by_provider[item.provider_id]
                if u.start < item.end and u.end > item.start
            ]
            if any(
                u.status != Slot.Status.FREE or u.location_id != item.location_id or u.pk in taken
                for u in units
            ) or any(s < item.end and e > item.start for s, e in booked[item.provider_id]):
                results[idx] = SlotUnavailable()
                continue
            appointment = Appointment(
                patient_id=item.patient_id,
                provider_id=item.provider_id,
                location_id=item.location_id,
                appointment_type_id=item.appointment_type_id,
                start=item.start,
                end=item.end,
                status=Appointment.Status.BOOKED,
                channel=Appointment.Channel.LOCATION,
                external_id=item.external_id,
                created_at=now,
                updated_at=now,
            )
            taken.update(u.pk for u in units)
            booked[item.provider_id].append((item.start, item.end))
            if item.external_id:
                known[key] = appointment
            plan.append((appointment, units, item.origin_connector_id))
            plan_rooms.append(item.room_code)
            results[idx] = appointment
        if plan:
            rooms = rooms_assign(
                needs=[
                    RoomNeed(
                        location_id=a.location_id,
                        start=a.start,
                        end=a.end,
                        appointment_type_id=a.appointment_type_id,
                        room_code=code,
                    )
                    for (a, _, _), code in zip(plan, plan_rooms, strict=True)
                ]
            )
            # Video visits get their link here as on the one-by-one path.
            video = set(
                AppointmentType.objects.filter(
                    pk__in={a.appointment_type_id for a, _, _ in plan}, telehealth=True
                ).values_list("pk", flat=True)
            )
            for (appointment, _, _), room in zip(plan, rooms, strict=True):
                appointment.room = room
                if appointment.appointment_type_id in video:
                    appointment.video_token = secrets.token_urlsafe(24)
            _write_external_batch(plan, taken, now)
    done = [r for r in results if r is not None]
    assert len(done) == len(items)
    return done


def _write_external_batch(
    plan: list[tuple[Appointment, list[Slot], int | None]], taken: set[int], now: datetime
) -> None:
    if taken:
        open_holds().filter(slot_id__in=taken).update(released_at=now)
    appointments = Appointment.objects.bulk_create([a for a, _, _ in plan])
    AppointmentSlot.objects.bulk_create(
        [AppointmentSlot(appointment=a, slot=u) for a, units, _ in plan for u in units]
    )
    if taken:
        Slot.objects.filter(pk__in=taken).update(status=Slot.Status.BOOKED)
    log_creates(appointments)
    waitlist_fill(appointments=appointments)
    # One signal for the run: integrations answers it with one outbox INSERT.
    signals.appointments_booked.send(
        sender=Appointment,
        appointments=appointments,
        origin_connector_ids=[origin for _, _, origin in plan],
    )
