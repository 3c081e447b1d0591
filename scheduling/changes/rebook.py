"""Working the rebooking worklist: move a visit to an alternative (through the ordinary
reschedule service, so the location's system gets its SIU as for any move), cancel it
with the change's reason, or tell the patient through the engagement outbox."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from patients.models import Patient

from ..engagement.messages import patient_messages_queue
from ..engagement.texts import Visit, render
from ..models import (
    Appointment,
    CancelReason,
    Channel,
    PatientMessage,
    RebookingItem,
    Slot,
)
from ..services.appointments import appointment_cancel, appointment_reschedule
from ..services.errors import SchedulingError
from ..services.holds import hold_place
from .apply import rematerialize_days
from .follow import ACTIVE
from .suggest import suggestions_for

REASONS: dict[str, str] = {
    RebookingItem.Cause.TIME_OFF: CancelReason.PROVIDER_UNAVAILABLE,
    RebookingItem.Cause.CLOSURE: CancelReason.WEATHER,
    RebookingItem.Cause.TEMPLATE: CancelReason.PROVIDER_UNAVAILABLE,
}
NO_PHONE = "your clinic"


class ItemDone(SchedulingError):
    message = "This visit was already rebooked or cancelled."


@dataclass(frozen=True)
class BulkResult:
    done: int
    left: int  # rows nothing could be done for (no free suggestion, no way to reach)


def _lock_active(item: RebookingItem) -> RebookingItem:
    locked = (
        RebookingItem.objects.select_for_update(of=("self",))
        .filter(pk=item.pk)
        .select_related(
            "appointment__location", "appointment__patient", "appointment__appointment_type"
        )
        .first()
    )
    if locked is None or locked.status not in ACTIVE:
        raise ItemDone()
    return locked


def _drop_freed(appointment: Appointment, now: datetime) -> None:
    """The units the old visit held are free now and lie inside the change: materializing
    the day again removes them, so nothing is offered inside time off or a closure."""
    day = appointment.start.date()
    rematerialize_days([appointment.provider_id], day, day, now)


def rebooking_item_rebook(*, item: RebookingItem, slot: Slot, by: User) -> RebookingItem:
    """Move the visit to ``slot`` (a suggestion or any other start ops picked); the old
    appointment becomes ``rescheduled`` with the change's reason. All or nothing: if the
    rules or the slot refuse, the row stays as it was."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_active(item)
        old = locked.appointment
        hold = hold_place(
            slot=slot, by=by, patient=old.patient, appointment_type=old.appointment_type
        )
        new = appointment_reschedule(
            appointment=old, hold=hold, by=by, reason=REASONS[locked.cause]
        )
        locked.status = RebookingItem.Status.REBOOKED
        locked.new_appointment = new
        locked.resolved_at = now
        locked.save(update_fields=["status", "new_appointment", "resolved_at"])
        _drop_freed(old, now)
    return locked


def rebooking_items_rebook_first(*, items: Sequence[RebookingItem], by: User) -> BulkResult:
    """Rebook each row to its first suggestion that can still be booked, trying the next
    if a start was taken meanwhile. Each row is its own transaction: one row that cannot
    be moved leaves the others moved."""
    done = left = 0
    for item in items:
        moved = False
        # in the suggestions' order (best first), not the query's
        order = {pk: i for i, pk in enumerate(item.suggestions)}
        candidates = sorted(
            Slot.objects.filter(pk__in=item.suggestions, status=Slot.Status.FREE),
            key=lambda s: order[s.pk],
        )
        for slot in candidates:
            try:
                rebooking_item_rebook(item=item, slot=slot, by=by)
            except ItemDone:
                break
            except SchedulingError:
                continue
            moved = True
            break
        done, left = (done + 1, left) if moved else (done, left + 1)
    return BulkResult(done, left)


def rebooking_item_refresh(*, item: RebookingItem, by: User) -> RebookingItem:
    """Ask the rules engine again for the row's alternatives (the first ones were taken,
    or the schedule changed since)."""
    with transaction.atomic():
        locked = _lock_active(item)
        locked.suggestions = suggestions_for(locked.appointment, now=timezone.now())
        locked.save(update_fields=["suggestions"])
    return locked


def rebooking_item_cancel(*, item: RebookingItem, by: User) -> RebookingItem:
    """Cancel the visit with the change's reason (the patient cannot come another time);
    the location's system gets the cancellation as for any other."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock_active(item)
        locked.appointment = appointment_cancel(
            appointment=locked.appointment, by=by, reason=REASONS[locked.cause]
        )
        locked.status = RebookingItem.Status.CANCELLED
        locked.resolved_at = now
        locked.save(update_fields=["status", "resolved_at"])
        _drop_freed(locked.appointment, now)
    return locked


def _channel(patient: Patient) -> str | None:
    if patient.consent_sms and patient.sms_opted_out_at is None and patient.phone:
        return Channel.SMS
    if patient.consent_email and patient.email:
        return Channel.EMAIL
    return None


def _visit(appointment: Appointment) -> Visit:
    zone = zoneinfo.ZoneInfo(appointment.location.time_zone)
    return Visit(
        appointment.appointment_type.name,
        appointment.location.name,
        appointment.start.astimezone(zone),
    )


def _message(item: RebookingItem, channel: str, now: datetime) -> PatientMessage:
    if item.status == RebookingItem.Status.REBOOKED and item.new_appointment is not None:
        key, appointment = "change_moved", item.new_appointment
    elif item.status == RebookingItem.Status.CANCELLED:
        key, appointment = "cancelled", item.appointment
    else:
        key, appointment = "change_call", item.appointment
    patient = appointment.patient
    language = patient.preferred_language or "en"
    phone = appointment.location.phone or NO_PHONE
    return PatientMessage(
        patient=patient,
        appointment=appointment,
        location=appointment.location,
        kind=PatientMessage.Kind.SCHEDULE_CHANGE,
        channel=channel,
        language=language,
        subject=render("change_subject", language) if channel == Channel.EMAIL else "",
        body=render(key, language, _visit(appointment), phone=phone),
        created_at=now,
    )


def rebooking_items_notify(*, items: Sequence[RebookingItem], by: User) -> BulkResult:
    """Tell each patient what happened: the new time, the cancellation, or (still open)
    that the visit cannot go ahead and to call. SMS where they consented and did not opt
    out, else email; a patient reachable by neither stays on the list for a phone call.
    A row already told about its current state is not told again."""
    now = timezone.now()
    messages, told = [], []
    with transaction.atomic():
        rows = (
            RebookingItem.objects.select_for_update(of=("self",))
            .filter(pk__in=[i.pk for i in items])
            .select_related(
                "appointment__patient",
                "appointment__location",
                "appointment__appointment_type",
                "new_appointment__patient",
                "new_appointment__location",
                "new_appointment__appointment_type",
            )
            .order_by("pk")
        )
        for item in rows:
            changed_at = item.resolved_at or item.created_at
            if item.notified_at is not None and item.notified_at >= changed_at:
                continue
            channel = _channel(item.appointment.patient)
            if channel is None:
                continue
            messages.append(_message(item, channel, now))
            if item.status == RebookingItem.Status.OPEN:
                item.status = RebookingItem.Status.NOTIFIED
            item.notified_at = now
            item.save(update_fields=["status", "notified_at"])
            told.append(item.pk)
        patient_messages_queue(messages=messages)
    return BulkResult(len(told), len(items) - len(told))
