"""Changes that arrive from a location's PMS (inbound SIU), one at a time. No rules: the
front desk has already booked; the hub records it, still without double booking.
``origin_connector_id`` travels with the ``appointment_changed`` signal so the change is
not echoed back to its source.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from operator import or_

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from patients.models import Patient

from ..models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    CancelReason,
    Location,
    Provider,
    Slot,
)
from ..selectors.holds import open_holds
from .appointments import (
    _announce,
    _create_appointment,
    _link_units,
    _take_off_schedule,
    _unlink,
)
from .errors import (
    AppointmentNotActive,
    AppointmentNotStarted,
    InvalidExternalStatus,
    SlotUnavailable,
    SlotWrongFit,
)
from .rooms import RoomNeed, rooms_assign

Window = tuple[int, datetime, datetime]  # provider id, start, end


def _coalesced(windows: list[Window]) -> list[Window]:
    """Each provider's windows merged where they overlap or touch: a unit overlaps the
    merged window exactly when it overlaps one of its parts, and a front desk's run of
    back-to-back bookings becomes one range for the database to look up."""
    merged: list[Window] = []
    for provider_id, start, end in sorted(windows, key=lambda w: (w[0], w[1])):
        if merged and merged[-1][0] == provider_id and start <= merged[-1][2]:
            last = merged[-1]
            merged[-1] = (provider_id, last[1], max(last[2], end))
        else:
            merged.append((provider_id, start, end))
    return merged


def external_windows_lock(*, windows: list[Window]) -> list[Slot]:
    """Lock the units of each provider's [start, end) window; returns them in start order.

    A front-desk booking that also changes its patient (the SIU's PID) calls this BEFORE
    the patient upsert, so it takes its locks in the services' order (units, holds,
    patient) like an agent's booking, and the two cannot deadlock over one slot."""
    windows = _coalesced(windows)
    if not windows:
        return []
    if connection.vendor == "postgresql":
        # One statement whatever the batch size: the windows travel as three arrays.
        # (An ORM OR of 500 windows costs more to build than the booking it guards.)
        # The table name comes from the model; every value is a parameter.
        table = connection.ops.quote_name(Slot._meta.db_table)
        sql = (
            f"SELECT s.* FROM {table} s WHERE EXISTS (SELECT 1 FROM "  # noqa: S608
            "unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) AS w(p, a, b) "
            'WHERE s.provider_id = w.p AND s.start < w.b AND s."end" > w.a) '
            "ORDER BY s.start, s.id FOR UPDATE"
        )
        columns = [list(column) for column in zip(*windows, strict=True)]
        return list(Slot.objects.raw(sql, columns))
    # SQLite has no row locks (a writer holds the whole database), so this only reads.
    in_window = reduce(
        or_, (Q(provider_id=p, start__lt=end, end__gt=start) for p, start, end in windows)
    )
    return list(Slot.objects.filter(in_window).order_by("start", "id"))


def _occupy_window(
    *, provider: Provider, location: Location, start: datetime, end: datetime, now: datetime
) -> list[Slot]:
    """Lock the provider's units inside [start, end) at the location. A booked unit is a
    conflict; agents' holds on them are released, because the front desk booked first."""
    units = external_windows_lock(windows=[(provider.pk, start, end)])
    if any(u.status != Slot.Status.FREE or u.location_id != location.pk for u in units):
        raise SlotUnavailable()
    open_holds().filter(slot_id__in=[u.pk for u in units]).update(released_at=now)
    return units


def appointment_record_external(
    *,
    patient: Patient,
    provider: Provider,
    location: Location,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    origin_connector_id: int | None = None,
    external_id: str = "",
    room_code: str = "",
) -> Appointment:
    """Record a booking made at the location's front desk. Idempotent on
    (location, external_id): the same PMS booking arriving twice returns the first row.
    It occupies the room the PMS named (``room_code``) or the best free fit
    (``rooms_assign``), never refused for want of one."""
    if timezone.is_naive(start) or timezone.is_naive(end) or end <= start:
        raise SlotWrongFit()
    now = timezone.now()
    with transaction.atomic():
        if external_id:
            existing = Appointment.objects.filter(
                location=location, external_id=external_id
            ).first()
            if existing is not None:
                return existing
        units = _occupy_window(provider=provider, location=location, start=start, end=end, now=now)
        (room,) = rooms_assign(
            needs=[
                RoomNeed(
                    location_id=location.pk,
                    start=start,
                    end=end,
                    appointment_type_id=appointment_type.pk,
                    room_code=room_code,
                )
            ]
        )
        appointment = _create_appointment(
            patient=patient,
            provider=provider,
            location=location,
            appointment_type=appointment_type,
            room=room,
            start=start,
            end=end,
            status=Appointment.Status.BOOKED,
            channel=Appointment.Channel.LOCATION,
            external_id=external_id,
            created_at=now,
            updated_at=now,
        )
        _link_units(appointment, units)
        _announce(appointment, "booked", origin_connector_id=origin_connector_id)
    return appointment


EXTERNAL_STATUS_EVENTS: dict[str, str] = {
    Appointment.Status.BOOKED: "modified",
    Appointment.Status.ARRIVED: "arrived",
    Appointment.Status.COMPLETED: "completed",
}


def appointment_update_external(
    *,
    appointment: Appointment,
    start: datetime | None = None,
    end: datetime | None = None,
    provider: Provider | None = None,
    location: Location | None = None,
    appointment_type: AppointmentType | None = None,
    status: str | None = None,
    origin_connector_id: int | None = None,
) -> Appointment:
    """Apply a PMS modification (SIU^S14): move, reassign, retype, or mark arrived or
    completed. Only the fields given change; the units are re-occupied when time,
    provider or location move."""
    if status is not None and status not in EXTERNAL_STATUS_EVENTS:
        raise InvalidExternalStatus()
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
        if locked is None or not locked.is_active:
            raise AppointmentNotActive()
        new_start = start or locked.start
        new_end = end or (new_start + (locked.end - locked.start))
        if timezone.is_naive(new_start) or timezone.is_naive(new_end) or new_end <= new_start:
            raise SlotWrongFit()
        new_provider = provider or locked.provider
        new_location = location or locked.location
        moved = (new_start, new_end, new_provider.pk, new_location.pk) != (
            locked.start,
            locked.end,
            locked.provider_id,
            locked.location_id,
        )
        if moved:
            _unlink(locked, now=now)
            units = _occupy_window(
                provider=new_provider, location=new_location, start=new_start, end=new_end, now=now
            )
        same_room = "" if locked.room is None else locked.room.code
        if moved and new_location.pk != locked.location_id:
            same_room = ""
        locked.start, locked.end = new_start, new_end
        locked.provider, locked.location = new_provider, new_location
        if appointment_type is not None:
            locked.appointment_type = appointment_type
        if moved:
            # Keep its room when still free at the new time, else the best free fit.
            (locked.room,) = rooms_assign(
                needs=[
                    RoomNeed(
                        location_id=new_location.pk,
                        start=new_start,
                        end=new_end,
                        appointment_type_id=locked.appointment_type_id,
                        room_code=same_room,
                        appointment_id=locked.pk,
                    )
                ]
            )
        event = "modified"
        if status is not None:
            locked.status = status
            event = EXTERNAL_STATUS_EVENTS[status]
        locked.updated_at = now
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            raise SlotUnavailable() from None
        if moved:
            _link_units(locked, units)
        _announce(locked, event, origin_connector_id=origin_connector_id)
    return locked


def appointment_cancel_external(
    *,
    appointment: Appointment,
    reason: str = CancelReason.OTHER,
    origin_connector_id: int | None = None,
) -> Appointment:
    """Apply a PMS cancellation (SIU^S15). Cancelling an already cancelled one is a no-op."""
    if reason not in CancelReason.values:
        reason = CancelReason.OTHER
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if locked.status in (Appointment.Status.CANCELLED, Appointment.Status.RESCHEDULED):
            return locked
        if not locked.is_active:
            raise AppointmentNotActive()
        _take_off_schedule(locked, status=Appointment.Status.CANCELLED, reason=reason, now=now)
        _announce(locked, "cancelled", origin_connector_id=origin_connector_id)
    return locked


def appointment_mark_no_show(
    *,
    appointment: Appointment,
    by: User | None = None,
    origin_connector_id: int | None = None,
) -> Appointment:
    """The patient did not come (SIU^S26 or the front desk). Only once the start passed."""
    now = timezone.now()
    with transaction.atomic():
        locked = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if locked.status == Appointment.Status.NO_SHOW:
            return locked
        if locked.status != Appointment.Status.BOOKED:
            raise AppointmentNotActive()
        if locked.start > now:
            raise AppointmentNotStarted()
        locked.status = Appointment.Status.NO_SHOW
        locked.updated_at = now
        locked.save(update_fields=["status", "updated_at"])
        AppointmentSlot.objects.filter(appointment=locked, active=True).update(active=False)
        _announce(locked, "no_show", origin_connector_id=origin_connector_id)
    return locked
