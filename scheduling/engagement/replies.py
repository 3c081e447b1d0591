"""A patient's text, acted on: STOP/START/HELP, C/R/X to a reminder, YES/NO to an offer.

Anything the hub cannot act on goes to the reply review queue: no text is dropped.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from config.audit import audit_set
from patients.models import Patient

from .. import signals
from ..models import (
    Appointment,
    Call,
    Callback,
    CallReason,
    CancelReason,
    Channel,
    PatientMessage,
    ReplyReview,
)
from .actor import engagement_actor
from .messages import patient_messages_queue
from .offers import waitlist_offer_answer
from .texts import Visit, render, reply_intent


def _answer(patient: Patient, key: str, visit: Visit | None = None, **extra: object) -> None:
    patient_messages_queue(
        messages=[
            PatientMessage(
                patient=patient,
                location_id=patient.home_location_id,
                kind=PatientMessage.Kind.REPLY,
                channel=Channel.SMS,
                language=patient.preferred_language or "en",
                body=render(key, patient.preferred_language, visit, **extra),
                created_at=timezone.now(),
            )
        ]
    )


def _visit(appointment: Appointment) -> Visit:
    zone = zoneinfo.ZoneInfo(appointment.location.time_zone)
    return Visit(
        appointment.appointment_type.name,
        appointment.location.name,
        appointment.start.astimezone(zone),
        appointment.video_link,
    )


def _reminded(patient_ids: Sequence[int], now: datetime) -> Appointment | None:
    """The active future appointment these patients were last reminded of."""
    reminded = (
        PatientMessage.objects.filter(
            patient_id__in=patient_ids,
            kind=PatientMessage.Kind.REMINDER,
            appointment__status=Appointment.Status.BOOKED,
            appointment__start__gt=now,
        )
        .order_by("-created_at", "-pk")
        .values_list("appointment_id", flat=True)
        .first()
    )
    if reminded is None:
        return None
    return (
        Appointment.objects.select_related("location", "appointment_type", "patient")
        .filter(pk=reminded)
        .first()
    )


def reply_receive(*, patient_ids: Sequence[int], phone: str, text: str) -> str:
    """Act on one inbound text from ``phone`` (digits), sent by whoever of ``patient_ids``
    has that number on file. Returns the intent acted on, or "" when it went to review.
    Atomic."""
    now = timezone.now()
    intent = reply_intent(text)
    patients = list(Patient.objects.filter(pk__in=patient_ids).order_by("pk"))
    with transaction.atomic():
        acted = bool(patients) and _act(intent, patients, now)
        if not acted:
            ReplyReview.objects.create(
                patient=patients[0] if len(patients) == 1 else None,
                phone=phone[:20],
                body=text[:1600],
                received_at=now,
            )
            return ""
    return intent


def _act(intent: str, patients: list[Patient], now: datetime) -> bool:
    first = patients[0]
    if intent == "stop":
        ids = [p.pk for p in patients]
        changed = list(
            Patient.objects.filter(pk__in=ids, sms_opted_out_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        Patient.objects.filter(pk__in=changed).update(sms_opted_out_at=now, consent_sms=False)
        audit_set(Patient, changed, "consent_sms", True, False)
        _answer(first, "stopped")
        return True
    if intent == "start":
        ids = [p.pk for p in patients]
        Patient.objects.filter(pk__in=ids).update(sms_opted_out_at=None, consent_sms=True)
        audit_set(Patient, ids, "consent_sms", False, True)
        _answer(first, "started")
        return True
    if intent == "help":
        _answer(first, "help")
        return True
    if intent in ("yes", "no"):
        return bool(
            waitlist_offer_answer(patient_ids=[p.pk for p in patients], accept=intent == "yes")
        )
    if intent in ("confirm", "cancel", "reschedule"):
        appointment = _reminded([p.pk for p in patients], now)
        if appointment is None:
            return False
        {"confirm": _confirm, "cancel": _cancel, "reschedule": _reschedule}[intent](
            appointment, now
        )
        return True
    return False


def _confirm(appointment: Appointment, now: datetime) -> None:
    if Appointment.objects.filter(
        pk=appointment.pk, status=Appointment.Status.BOOKED, confirmed_at__isnull=True
    ).update(confirmed_at=now, updated_at=now):
        audit_set(Appointment, [appointment.pk], "confirmed_at", None, now)
        appointment.confirmed_at = now
        # The location's PMS hears of it as a modification (SIU^S14).
        signals.appointment_changed.send(
            sender=Appointment, appointment=appointment, event="modified", previous=None
        )
    _answer(appointment.patient, "confirmed", _visit(appointment))


def _cancel(appointment: Appointment, now: datetime) -> None:
    from ..services import appointment_cancel

    appointment_cancel(
        appointment=appointment, by=engagement_actor(), reason=CancelReason.PATIENT_REQUEST
    )
    _answer(appointment.patient, "cancelled", _visit(appointment))


def _reschedule(appointment: Appointment, now: datetime) -> None:
    """A callback on the agents' worklist, from a call the system opens and wraps up."""
    call = Call.objects.create(
        agent=engagement_actor(),
        patient=appointment.patient,
        reason=CallReason.RESCHEDULE,
        started_at=now,
        ended_at=now,
        outcome=Call.Outcome.CALLBACK,
        notes=f"Reschedule requested by text for appointment #{appointment.pk}",
    )
    Callback.objects.create(
        call=call,
        patient=appointment.patient,
        reason=CallReason.RESCHEDULE,
        due_at=now,
        created_at=now,
    )
    _answer(appointment.patient, "reschedule")
