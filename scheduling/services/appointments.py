"""Booking, rescheduling and cancelling by agents, with every hard rule re-checked.

Lock order, everywhere, so that two services never wait on each other in a circle:
appointment row -> slot rows (by start; the provider's, then a second staff member's) ->
hold rows -> patient row -> room rows (by id) -> mobile equipment row.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.audit import audit_set, nothing_points_at
from config.permissions import OVERRIDE_NETWORK
from patients.models import Patient

from .. import signals
from ..models import (
    Appointment,
    AppointmentSlot,
    AppointmentType,
    BookReason,
    Call,
    CancelReason,
    Hold,
    Slot,
)
from ..rules.equipment import required_equipment
from ..rules.registry import NETWORK_RULE_KEYS
from ..selectors.access import appointments_in_scope, patient_in_scope
from ..selectors.booking_rules import slot_judgement
from . import booking_sql
from .errors import (
    AppointmentNotActive,
    AppointmentNotFound,
    HoldExpired,
    HoldNotYours,
    InvalidReason,
    NetworkOverrideNotAllowed,
    PatientMerged,
    PatientNotFound,
    RuleViolation,
    SlotHeld,
    SlotInPast,
    SlotUnavailable,
)
from .holds import _check_call, _units
from .resources import assistant_take, equipment_take, resources_release
from .rooms import room_pick
from .waitlist import waitlist_fill

# Lifecycle events after which an appointment may satisfy a waitlist entry.
FILLING_EVENTS = frozenset({"booked", "rescheduled", "modified"})


def _lock_hold(hold: Hold, units: list[Slot], by: User, now: datetime) -> Hold:
    """Lock the hold row and check it and the (locked) units once more; ``other_held``
    on the row says whether another agent's live hold sits on one of the units.

    Read in the locking statement: the unit rows are locked already, and a hold is placed
    only under its slot's lock, so no such hold can appear while this statement runs.
    """
    slot_ids = [u.pk for u in units]
    locked = booking_sql.hold_locked.first(pk=hold.pk, slot_ids=slot_ids, by_id=by.pk, now=now)
    _usable_hold(locked, by, now)
    if units[0].start <= now:
        raise SlotInPast()
    if any(u.status != Slot.Status.FREE for u in units):
        raise SlotUnavailable()
    if locked.other_held:  # type: ignore[union-attr]
        raise SlotHeld()
    return locked  # type: ignore[return-value]


def _check_rules(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    first: Slot,
    by: User,
    network_override_reason: str,
    now: datetime,
    established_with: int | None = None,
) -> tuple[str, frozenset[str]]:
    """Every hard rule for one concrete booking. Returns the override reason actually
    used ("" when the booking is in network) and the equipment the room needs.

    ``established_with``: see ``selectors.booking_rules.slot_judgement``."""
    judged = slot_judgement(
        patient=patient,
        appointment_type=appointment_type,
        slot=first,
        now=now,
        established_with=established_with,
    )
    if judged is None:
        raise SlotUnavailable()  # the location or provider was deactivated
    ctx, judgement = judged
    override_used = ""
    hard = list(judgement.exclusions)
    if hard and network_override_reason.strip():
        network = [e for e in hard if e.rule in NETWORK_RULE_KEYS]
        if network:
            if not by.has_perm(OVERRIDE_NETWORK):
                raise NetworkOverrideNotAllowed()
            override_used = network_override_reason.strip()[:200]
            hard = [e for e in hard if e.rule not in NETWORK_RULE_KEYS]
    if hard:
        raise RuleViolation(*[e.reason for e in hard])
    return override_used, required_equipment(ctx)


def _link_units(appointment: Appointment, units: list[Slot], *, savepoint: bool = True) -> None:
    """The double-booking guarantee: ``slot_booked_once`` rejects a second active link.

    ``savepoint=False`` (also ``_create_appointment``): the caller's own atomic block is
    left by the error this raises, so a savepoint would only cost two round trips."""
    try:
        with transaction.atomic(savepoint=savepoint):
            AppointmentSlot.objects.bulk_create(
                [AppointmentSlot(appointment=appointment, slot=u) for u in units]
            )
    except IntegrityError:
        raise SlotUnavailable() from None
    booking_sql.slots_booked.run(slot_ids=[u.pk for u in units])


def _create_appointment(*, savepoint: bool = True, **fields: Any) -> Appointment:
    # On PostgreSQL the exclusion constraints reject an overlapping active appointment for
    # the provider or the room even when it bypasses the slot grid.
    visit = fields.get("appointment_type")
    if visit is not None and visit.telehealth:
        fields.setdefault("video_token", secrets.token_urlsafe(24))
    appointment = Appointment(**fields)
    try:
        # The audit entry's diff need not ask whether an encounter or a referral points
        # at an appointment that does not exist yet.
        with transaction.atomic(savepoint=savepoint), nothing_points_at([appointment]):
            appointment.save(force_insert=True)
    except IntegrityError:
        raise SlotUnavailable() from None
    return appointment


def _unlink(appointment: Appointment, *, now: datetime) -> list[int]:
    """Free the appointment's slot units; returns the ids of future units now free again."""
    slot_ids = list(
        AppointmentSlot.objects.filter(appointment=appointment, active=True).values_list(
            "slot_id", flat=True
        )
    )
    AppointmentSlot.objects.filter(appointment=appointment, active=True).update(active=False)
    resources_release(appointment=appointment)
    # A unit an overbooking shares stays booked while the other booking still holds it.
    Slot.objects.filter(pk__in=slot_ids, status=Slot.Status.BOOKED).exclude(
        appointment_links__active=True
    ).update(status=Slot.Status.FREE)
    return list(
        Slot.objects.filter(pk__in=slot_ids, start__gt=now, status=Slot.Status.FREE).values_list(
            "pk", flat=True
        )
    )


def _take_off_schedule(
    appointment: Appointment, *, status: str, reason: str, now: datetime
) -> None:
    """Mark a locked, active appointment cancelled or rescheduled and free its units."""
    appointment.status = status
    appointment.cancel_reason = reason
    appointment.cancelled_at = now
    appointment.updated_at = now
    appointment.save(update_fields=["status", "cancel_reason", "cancelled_at", "updated_at"])
    _unlink(appointment, now=now)


def _attach_patient(call: Call | None, patient: Patient) -> None:
    if call is not None and call.patient_id is None:
        if Call.objects.filter(pk=call.pk, patient__isnull=True).update(patient=patient):
            audit_set(Call, [call.pk], "patient", None, patient.pk)  # update() sends no signal
        call.patient = patient


def _announce(
    appointment: Appointment,
    event: str,
    *,
    previous: Appointment | None = None,
    origin_connector_id: int | None = None,
) -> None:
    """Tell the receivers (``appointment_changed``) about one lifecycle change, inside the
    caller's transaction: integrations writes the location system's outbox row there.
    A booking, a move or a front-desk change may serve a waiting patient: the entry it
    satisfies is closed in the same transaction."""
    if event in FILLING_EVENTS:
        waitlist_fill(appointments=[appointment])
    signals.appointment_changed.send(
        sender=Appointment,
        appointment=appointment,
        event=event,
        previous=previous,
        origin_connector_id=origin_connector_id,
    )


def _usable_hold(hold: Hold | None, by: User, now: datetime) -> Hold:
    if hold is None:
        raise HoldExpired()
    if hold.held_by_id != by.pk:
        raise HoldNotYours()
    if hold.released_at or hold.consumed_at or hold.expires_at <= now:
        raise HoldExpired()
    return hold


def _book_from_hold(
    *,
    hold: Hold,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    book_reason: str,
    call: Call | None,
    network_override_reason: str,
    channel: str,
    now: datetime,
    rescheduled_from: Appointment | None = None,
) -> Appointment:
    # Slot rows before the hold row (the lock order above): the caller's copy of the hold
    # names its slot (a hold never changes slot), the units are locked, then the hold is
    # locked and checked again, since it may have been consumed or released (by a
    # front-desk booking) since the caller read it.
    peek = _usable_hold(hold, by, now)
    # The appointment keeps the provider and location read here: its audit entry, the
    # encounter and the answer name them without reading them again.
    # A caller that read the hold with its slot, the slot's location and provider (the
    # API does) saves reading them again.
    first = (
        peek.slot
        if Hold.slot.is_cached(peek)
        and Slot.location.is_cached(peek.slot)
        and Slot.provider.is_cached(peek.slot)
        else Slot.objects.select_related("location", "provider").get(pk=peek.slot_id)
    )
    units = _units(first, appointment_type.duration_minutes)
    end = first.start + timedelta(minutes=appointment_type.duration_minutes)
    assistant_id: int | None = None
    staff_units: list[Slot] = []
    if appointment_type.assistant_capability_id:
        assistant_id, staff_units = assistant_take(
            hold=peek, appointment_type=appointment_type, lead=first, end=end, by=by, now=now
        )
    _lock_hold(hold, units, by, now)
    # The patient-no-overlap rule reads the patient's other active appointments: lock the
    # patient so two agents booking the same person at two locations at once cannot both
    # pass it (the second waits here, then sees the first's booking).
    booking_sql.patient_locked.rows(pk=patient.pk)
    override_used, needed = _check_rules(
        patient=patient,
        appointment_type=appointment_type,
        first=first,
        by=by,
        network_override_reason=network_override_reason,
        now=now,
        established_with=rescheduled_from.provider_id if rescheduled_from else None,
    )
    # A video visit occupies no room.
    room = (
        None
        if appointment_type.telehealth
        else room_pick(location_id=first.location_id, needed=needed, start=first.start, end=end)
    )
    # No savepoints: a failure here leaves the atomic block of appointment_book or
    # appointment_reschedule (a savepoint itself when nested), undoing all of this.
    appointment = _create_appointment(
        savepoint=False,
        patient=patient,
        provider=first.provider,
        location=first.location,
        appointment_type=appointment_type,
        room=room,
        assistant_id=assistant_id,
        start=first.start,
        end=end,
        status=Appointment.Status.BOOKED,
        channel=channel,
        book_reason=book_reason,
        network_override_reason=override_used,
        booked_by=by,
        call=call,
        rescheduled_from=rescheduled_from,
        created_at=now,
        updated_at=now,
    )
    _link_units(appointment, units + staff_units, savepoint=False)
    if appointment_type.mobile_equipment_id:
        equipment_take(
            appointment=appointment,
            equipment_id=appointment_type.mobile_equipment_id,
            by=by,
            now=now,
        )
    # Consume this hold and the agent's holds on the visit's other units and staff.
    # A second staff member held but not booked (the hold lapsed, another was free) is
    # freed. One statement: an open row is either one of this agent's on a taken unit
    # (consumed) or a companion of this hold (released).
    booking_sql.holds_consume.run(
        slot_ids=[u.pk for u in units + staff_units], by_id=by.pk, hold_id=hold.pk, now=now
    )
    _attach_patient(call, patient)
    return appointment


def appointment_book(
    *,
    hold: Hold,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    reason: str,
    call: Call | None = None,
    network_override_reason: str = "",
    channel: str = Appointment.Channel.AGENT,
) -> Appointment:
    """Book the held slot (and the consecutive units and room the visit needs) atomically.

    ``reason`` is a BookReason value. The hold must be the agent's own and live. Every
    hard rule is re-checked here, so the API and FHIR get the console's guarantees; an
    out-of-network booking needs ``network_override_reason`` and the override permission.
    """
    if reason not in BookReason.values or channel not in Appointment.Channel.values:
        raise InvalidReason()
    if patient.status == Patient.Status.MERGED:
        raise PatientMerged()
    if not patient_in_scope(by, patient.pk, loaded=True):
        raise PatientNotFound()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        appointment = _book_from_hold(
            hold=hold,
            patient=patient,
            appointment_type=appointment_type,
            by=by,
            book_reason=reason,
            call=call,
            network_override_reason=network_override_reason,
            channel=channel,
            now=now,
        )
        _announce(appointment, "booked")
    return appointment


def _check_in_scope(appointment: Appointment, by: User) -> None:
    """An agent confined to a region changes only appointments of patients in reach."""
    if not appointments_in_scope(by, Appointment.objects.filter(pk=appointment.pk)).exists():
        raise AppointmentNotFound()


def _lock_active(appointment: Appointment) -> Appointment:
    locked = Appointment.objects.select_for_update().filter(pk=appointment.pk).first()
    if locked is None or locked.status != Appointment.Status.BOOKED:
        raise AppointmentNotActive()
    return locked


def appointment_reschedule(
    *,
    appointment: Appointment,
    hold: Hold,
    by: User,
    reason: str,
    call: Call | None = None,
    network_override_reason: str = "",
) -> Appointment:
    """Move a booked appointment to the held slot: the old one becomes ``rescheduled``
    (with ``reason``, a CancelReason value) and a new one points back at it.

    The old units are freed first, so moving by half an hour within the same run works.
    Everything happens in one transaction; if the new booking fails the old one stands.
    A new slot out of the patient's network needs ``network_override_reason`` and the
    override permission, as a booking does; without a new reason, the old booking's own
    override reason (if it had one) carries over.
    """
    if reason not in CancelReason.values:
        raise InvalidReason()
    _check_in_scope(appointment, by)
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        old = _lock_active(appointment)
        _take_off_schedule(old, status=Appointment.Status.RESCHEDULED, reason=reason, now=now)
        new = _book_from_hold(
            hold=hold,
            patient=old.patient,
            appointment_type=old.appointment_type,
            by=by,
            book_reason=old.book_reason or BookReason.FOLLOW_UP,
            call=call,
            network_override_reason=network_override_reason.strip() or old.network_override_reason,
            channel=old.channel,
            now=now,
            rescheduled_from=old,
        )
        if old.series_id is not None:
            # A moved occurrence stays in its series under its number ("this one" edit).
            new.series_id, new.series_occurrence = old.series_id, old.series_occurrence
            new.save(update_fields=["series", "series_occurrence"])
        _announce(new, "rescheduled", previous=old)
    appointment.refresh_from_db()
    return new


def appointment_cancel(
    *, appointment: Appointment, by: User, reason: str, call: Call | None = None
) -> Appointment:
    """Cancel a booked appointment with a CancelReason; its future units become free and
    ``selectors.waitlist_matches_for_slots`` shows who is waiting for them."""
    if reason not in CancelReason.values:
        raise InvalidReason()
    _check_in_scope(appointment, by)
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_active(appointment)
        _take_off_schedule(locked, status=Appointment.Status.CANCELLED, reason=reason, now=now)
        _attach_patient(call, locked.patient)
        _announce(locked, "cancelled")
    return locked


def freed_slot_ids(appointment: Appointment) -> list[int]:
    """Future slot units a cancelled or rescheduled appointment gave back."""
    return list(
        Slot.objects.filter(
            appointment_links__appointment=appointment,
            appointment_links__active=False,
            start__gt=timezone.now(),
            status=Slot.Status.FREE,
        ).values_list("pk", flat=True)
    )
