"""Referrals: received from an EHR or entered from a letter, answered by a booking.

A booking answers the oldest open referral of the same patient and visit type, whatever
the channel that made it (an agent, the API, a location's PMS), so the link and the
referral-to-appointment time do not depend on the agent remembering to pick it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.audit import audit_updates
from config.compiled import CompiledByLength
from config.crypto import blind_index
from patients.models import Patient

from ..models import Appointment, AppointmentType, Referral
from .errors import SchedulingError


class ReferralNotOpen(SchedulingError):
    message = "That referral is no longer waiting."


@dataclass(frozen=True)
class ReferralRecord:
    """A referral as a location EHR states it (FHIR ServiceRequest, read in integrations)."""

    connector_id: int
    record_id: str
    patient_id: int
    appointment_type_id: int
    priority: str
    referring_provider: str
    referring_npi: str
    reason: str
    received_at: datetime
    # False when the EHR revoked, completed or entered the request in error.
    open: bool
    closed_reason: str = ""


def referral_source_key(connector_id: int, record_id: str) -> str:
    return blind_index("referral-source", f"{connector_id}|{record_id}")


@transaction.atomic
def referral_receive(*, record: ReferralRecord) -> Referral:
    """Create or update the referral one EHR request describes. A request the EHR closes
    closes an open referral; one already booked keeps its booking."""
    key = referral_source_key(record.connector_id, record.record_id)
    referral = Referral.objects.select_for_update().filter(source_key=key).first()
    if referral is None:
        return Referral.objects.create(
            patient_id=record.patient_id,
            appointment_type_id=record.appointment_type_id,
            referring_provider=record.referring_provider[:120],
            referring_npi=record.referring_npi[:10],
            reason=record.reason,
            priority=record.priority,
            source=Referral.Source.FHIR,
            source_key=key,
            origin_connector_id=record.connector_id,
            received_at=record.received_at,
            status=Referral.Status.OPEN if record.open else Referral.Status.CLOSED,
            closed_reason="" if record.open else record.closed_reason[:120],
        )
    if referral.status == Referral.Status.OPEN:
        referral.priority = record.priority
        referral.reason = record.reason
        referral.appointment_type_id = record.appointment_type_id
        fields = ["priority", "reason", "appointment_type"]
        if not record.open:
            referral.status, referral.closed_reason = Referral.Status.CLOSED, record.closed_reason
            fields += ["status", "closed_reason"]
        referral.save(update_fields=fields)
    return referral


@transaction.atomic
def referral_create(
    *,
    by: Any,
    patient: Patient,
    appointment_type: AppointmentType,
    referring_provider: str,
    reason: str,
    priority: str = Referral.Priority.ROUTINE,
    referring_npi: str = "",
) -> Referral:
    """A referral typed in from a letter or a fax."""
    return Referral.objects.create(
        patient=patient,
        appointment_type=appointment_type,
        referring_provider=referring_provider[:120],
        referring_npi=referring_npi[:10],
        reason=reason,
        priority=priority,
        source=Referral.Source.FORM,
        received_at=timezone.now(),
        created_by=by,
    )


@transaction.atomic
def referral_close(*, referral: Referral, by: Any, reason: str) -> Referral:
    """Close a referral without booking (the patient declined, went elsewhere)."""
    updated = Referral.objects.filter(pk=referral.pk, status=Referral.Status.OPEN).update(
        status=Referral.Status.CLOSED, closed_reason=reason[:120]
    )
    if not updated:
        raise ReferralNotOpen()
    audit_updates(
        Referral,
        [(referral.pk, "", {"status": ("open", "closed"), "closed_reason": ("", reason[:120])})],
    )
    referral.refresh_from_db()
    return referral


# Every booking asks for its patient's open referrals: compiled once per number of
# patients (config.compiled).
_open_referrals: CompiledByLength[tuple[int, int, int]] = CompiledByLength(
    lambda patient_ids: (
        Referral.objects.filter(status=Referral.Status.OPEN, patient_id__in=patient_ids)
        .order_by("received_at", "pk")
        .values_list("pk", "patient_id", "appointment_type_id")
    ),
    "patient_ids",
)


def referrals_answer(*, appointments: list[Appointment]) -> int:
    """Link each new booking to the oldest open referral of its patient and visit type.
    Runs in the booking's transaction; each referral is claimed by a conditional update
    that matches it only while it is open, so no referral is answered twice. Returns how
    many were linked."""
    wanted = {(a.patient_id, a.appointment_type_id) for a in appointments if a.patient_id}
    if not wanted:
        return 0
    open_ids: dict[tuple[int, int], list[int]] = {}
    rows = _open_referrals.rows(patient_ids=sorted({p for p, _ in wanted}))
    for pk, patient_id, type_id in rows:
        open_ids.setdefault((patient_id, type_id), []).append(pk)
    linked = []
    now = timezone.now()
    for appt in appointments:
        for pk in open_ids.get((appt.patient_id, appt.appointment_type_id), []):
            if Referral.objects.filter(pk=pk, status=Referral.Status.OPEN).update(
                status=Referral.Status.BOOKED, appointment=appt, booked_at=now
            ):
                open_ids[(appt.patient_id, appt.appointment_type_id)].remove(pk)
                linked.append((pk, appt.pk))
                break
    audit_updates(
        Referral,
        (
            (pk, "", {"status": ("open", "booked"), "appointment": (None, appt_id)})
            for pk, appt_id in linked
        ),
    )
    return len(linked)
