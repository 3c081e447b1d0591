"""Overbooking: a permitted user books a second patient into an already booked slot, on
purpose, with a reason, under the provider's daily limit.

The database is what keeps everyone else out: ``slot_booked_once`` still refuses a second
plain link, and only a link marked overbooked with a reason (``slot_overbooked_once``, at
most one per slot) may share the unit. Lock order as in ``appointments``, with the
provider row after the patient: slot rows -> patient row -> provider row -> room rows.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.permissions import OVERBOOK
from patients.models import Patient

from ..models import Appointment, AppointmentSlot, AppointmentType, BookReason, Call, Provider, Slot
from ..selectors.access import patient_in_scope
from .appointments import _announce, _attach_patient, _check_rules, _create_appointment
from .errors import (
    InvalidReason,
    OverbookLimitReached,
    OverbookNeedsBookedSlot,
    OverbookNotAllowed,
    OverbookReasonMissing,
    PatientMerged,
    PatientNotFound,
    SlotAlreadyOverbooked,
    SlotInPast,
)
from .holds import _check_call, _units
from .rooms import RoomNeed, rooms_assign


def overbookings_on_day(provider: Provider, *, start: datetime, time_zone: str) -> int:
    """Active overbookings of the provider on the local day (in ``time_zone``) of ``start``."""
    zone = zoneinfo.ZoneInfo(time_zone)
    day = start.astimezone(zone).date()
    lo = datetime.combine(day, time.min, tzinfo=zone)
    hi = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return Appointment.objects.filter(
        provider=provider,
        overbooked=True,
        status__in=Appointment.ACTIVE_STATUSES,
        start__gte=lo,
        start__lt=hi,
    ).count()


def appointment_overbook(
    *,
    slot: Slot,
    patient: Patient,
    appointment_type: AppointmentType,
    by: User,
    reason: str,
    overbook_reason: str,
    call: Call | None = None,
    channel: str = Appointment.Channel.AGENT,
) -> Appointment:
    """Book ``patient`` into ``slot``, which another appointment already occupies.

    ``reason`` is a BookReason value; ``overbook_reason`` is why the double-booking is
    needed (required). Every hard rule is re-checked as for a normal booking (the slot
    being taken is the one fact overlooked). The provider's row is locked while the day's
    overbookings are counted, so concurrent overbookings cannot pass the limit together.
    """
    if not by.has_perm(OVERBOOK):
        raise OverbookNotAllowed()
    why = overbook_reason.strip()[:200]
    if not why:
        raise OverbookReasonMissing()
    if reason not in BookReason.values or channel not in Appointment.Channel.values:
        raise InvalidReason()
    if patient.status == Patient.Status.MERGED:
        raise PatientMerged()
    if not patient_in_scope(by, patient.pk):
        raise PatientNotFound()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        first = Slot.objects.select_related("location").get(pk=slot.pk)
        if first.start <= now:
            raise SlotInPast()
        units = _units(first, appointment_type.duration_minutes)
        if any(u.status != Slot.Status.BOOKED for u in units):
            raise OverbookNeedsBookedSlot()
        list(Patient.objects.select_for_update().filter(pk=patient.pk).values_list("pk"))
        _check_rules(
            patient=patient,
            appointment_type=appointment_type,
            first=first,
            by=by,
            network_override_reason="",
            now=now,
        )
        provider = Provider.objects.select_for_update().get(pk=first.provider_id)
        used = overbookings_on_day(provider, start=first.start, time_zone=first.location.time_zone)
        if used >= provider.overbook_daily_limit:
            raise OverbookLimitReached(
                f"{provider} already has {used} of {provider.overbook_daily_limit} "
                "overbookings that day"
            )
        end = first.start + timedelta(minutes=appointment_type.duration_minutes)
        # A room only if one is free: the double-booked patient may share the first's.
        (room,) = rooms_assign(
            needs=[
                RoomNeed(
                    location_id=first.location_id,
                    start=first.start,
                    end=end,
                    appointment_type_id=appointment_type.pk,
                )
            ]
        )
        appointment = _create_appointment(
            patient=patient,
            provider_id=first.provider_id,
            location_id=first.location_id,
            appointment_type=appointment_type,
            room=room,
            start=first.start,
            end=end,
            status=Appointment.Status.BOOKED,
            channel=channel,
            book_reason=reason,
            overbooked=True,
            overbook_reason=why,
            booked_by=by,
            call=call,
            created_at=now,
            updated_at=now,
        )
        try:
            with transaction.atomic():
                AppointmentSlot.objects.bulk_create(
                    [
                        AppointmentSlot(
                            appointment=appointment, slot=u, overbooked=True, overbook_reason=why
                        )
                        for u in units
                    ]
                )
        except IntegrityError:
            raise SlotAlreadyOverbooked() from None
        _attach_patient(call, patient)
        _announce(appointment, "booked")
    return appointment
