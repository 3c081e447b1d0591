"""Self-scheduling for patients: identity by name, birth date and a one-time code sent
to the phone or email on file; then visit types allowed for self-service, options from
the slot finder, and a booking through a hold, as an agent's would be.

Nothing here takes or returns an identifier a URL could carry; the view keeps the
verified patient in the server-side session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config.audit import audit_access
from config.crypto.fields import blind_index_of
from patients.models import Patient

from ..models import (
    Appointment,
    AppointmentType,
    BookReason,
    Call,
    Callback,
    CallReason,
    Channel,
    PatientMessage,
    SelfServiceCode,
    Slot,
)
from .actor import engagement_actor
from .messages import patient_messages_queue
from .texts import render

CODE_MINUTES = 10
MAX_ATTEMPTS = 5  # wrong guesses per code
MAX_CODES_PER_HOUR = 3  # codes per patient
MAX_REQUESTS_PER_HOUR = 20  # identify/verify posts per client address

ERR_CODE = "That code is not right, or it has expired. Check it, or ask for a new one."
ERR_LOCKED = "Too many attempts. Ask for a new code, or call us."
ERR_SLOWDOWN = "Too many attempts from this device. Please try again in an hour, or call us."
ERR_TYPE = "That visit cannot be booked online."


class SelfServiceError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def client_allowed(*, address: str, action: str) -> bool:
    """A fixed one-hour window per client address and action, in the shared cache."""
    key = f"selfservice:{action}:{hashlib.sha256(address.encode()).hexdigest()[:24]}"
    cache.add(key, 0, timeout=3600)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=3600)
        count = 1
    return count <= MAX_REQUESTS_PER_HOUR


def patient_identify(*, first_name: str, last_name: str, date_of_birth: date) -> Patient | None:
    """The one active patient with these names and birth date (exact, through the blind
    indexes), or None when there is none or more than one."""
    found = list(
        Patient.objects.filter(
            first_name_bidx=blind_index_of(Patient, "first_name_bidx", first_name.strip()),
            last_name_bidx=blind_index_of(Patient, "last_name_bidx", last_name.strip()),
            date_of_birth_bidx=blind_index_of(Patient, "date_of_birth_bidx", date_of_birth),
            status=Patient.Status.ACTIVE,
        )[:2]
    )
    return found[0] if len(found) == 1 else None


def _hash(patient_id: int, code: str) -> str:
    key = str(settings.SECRET_KEY).encode()
    return hmac.new(key, f"{patient_id}:{code}".encode(), hashlib.sha256).hexdigest()


def code_issue(*, patient: Patient, channel: str) -> bool:
    """Send a fresh code by ``channel`` (falling back to the other one on file). False
    when the patient asked for too many codes this hour or has no way to receive one.
    A code the patient asked for is sent even without reminder consent, never to a
    phone that said STOP."""
    now = timezone.now()
    recent = SelfServiceCode.objects.filter(
        patient=patient, created_at__gt=now - timedelta(hours=1)
    ).count()
    if recent >= MAX_CODES_PER_HOUR:
        return False
    can_text = bool(patient.phone) and patient.sms_opted_out_at is None
    can_mail = bool(patient.email)
    if channel == Channel.SMS and not can_text:
        channel = Channel.EMAIL
    if channel == Channel.EMAIL and not can_mail:
        channel = Channel.SMS if can_text else ""
    if not channel:
        return False
    code = f"{secrets.randbelow(1_000_000):06d}"
    with transaction.atomic():
        SelfServiceCode.objects.create(
            patient=patient,
            code_hash=_hash(patient.pk, code),
            channel=channel,
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
        language = patient.preferred_language or "en"
        patient_messages_queue(
            messages=[
                PatientMessage(
                    patient=patient,
                    location_id=patient.home_location_id,
                    kind=PatientMessage.Kind.CODE,
                    channel=channel,
                    language=language,
                    subject="Care Hub code",
                    body=render("code", language, code=code, minutes=CODE_MINUTES),
                    created_at=now,
                )
            ]
        )
    return True


def code_verify(*, patient_id: int, code: str) -> bool:
    """True once for the right code of the patient's latest live one. Raises
    ``SelfServiceError(ERR_LOCKED)`` after ``MAX_ATTEMPTS`` guesses at it."""
    now = timezone.now()
    latest = (
        SelfServiceCode.objects.filter(
            patient_id=patient_id, used_at__isnull=True, expires_at__gt=now
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if latest is None:
        return False
    # Count the guess before checking it: parallel guesses each take one attempt.
    if not SelfServiceCode.objects.filter(
        pk=latest.pk, used_at__isnull=True, attempts__lt=MAX_ATTEMPTS
    ).update(attempts=F("attempts") + 1):
        raise SelfServiceError(ERR_LOCKED)
    if not hmac.compare_digest(latest.code_hash, _hash(patient_id, code.strip())):
        return False
    return bool(
        SelfServiceCode.objects.filter(pk=latest.pk, used_at__isnull=True).update(used_at=now)
    )


def self_service_types() -> list[AppointmentType]:
    return list(AppointmentType.objects.filter(self_service=True).order_by("name"))


def selfservice_audit(*, patient: Patient, action: str) -> None:
    """An access entry about the patient, recorded as the patient's own action."""
    audit_access(
        actor=engagement_actor(),
        instances=[patient],
        additional_data={"actor": "patient", "patient_id": patient.pk, "action": action},
        surface="book",
    )


def selfservice_book(
    *, patient: Patient, slot_id: int, appointment_type: AppointmentType
) -> Appointment:
    """Hold and book one option for the verified patient: the same services, rules and
    outbox as an agent's booking (the location's PMS hears of it the same way)."""
    from ..services import appointment_book, hold_place

    if not appointment_type.self_service:
        raise SelfServiceError(ERR_TYPE)
    actor = engagement_actor()
    slot = Slot.objects.get(pk=slot_id)
    with transaction.atomic():
        hold = hold_place(slot=slot, by=actor, patient=patient, appointment_type=appointment_type)
        appointment = appointment_book(
            hold=hold,
            patient=patient,
            appointment_type=appointment_type,
            by=actor,
            reason=BookReason.RECALL,
            channel=Appointment.Channel.SELF,
        )
        selfservice_audit(patient=patient, action=f"booked appointment {appointment.pk}")
    return appointment


def first_visit_request(*, first_name: str, last_name: str, phone: str, note: str) -> Callback:
    """A new patient asks for a first visit: a callback on the agents' worklist."""
    now = timezone.now()
    digits = "".join(ch for ch in phone if ch.isdigit())[:20]
    with transaction.atomic():
        call = Call.objects.create(
            agent=engagement_actor(),
            caller_phone=digits,
            reason=CallReason.NEW_PROBLEM,
            started_at=now,
            ended_at=now,
            outcome=Call.Outcome.CALLBACK,
            notes=f"First visit asked online: {first_name[:60]} {last_name[:60]}: {note[:300]}",
        )
        return Callback.objects.create(
            call=call, phone=digits, reason=CallReason.NEW_PROBLEM, due_at=now, created_at=now
        )
