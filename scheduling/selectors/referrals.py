"""Reads for referrals: the worklist's waiting referrals, most urgent and oldest first."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from config.compiled import Compiled, CompiledPer, stand_in_id

from ..models import Referral
from .callbacks import WORKLIST_SIZE


def referrals_waiting(*, limit: int = WORKLIST_SIZE) -> list[Referral]:
    return _waiting(limit).rows()


# Every worklist poll reads it: compiled once per connection and limit (a LIMIT is
# written into the SQL).
_waiting: CompiledPer[int, Referral] = CompiledPer(
    lambda limit: Compiled(lambda: _waiting_queryset()[:limit])
)


def _waiting_queryset() -> QuerySet[Referral]:
    urgency = Case(
        When(priority=Referral.Priority.STAT, then=Value(0)),
        When(priority=Referral.Priority.ASAP, then=Value(1)),
        When(priority=Referral.Priority.URGENT, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    return (
        Referral.objects.filter(status=Referral.Status.OPEN)
        .select_related("patient", "appointment_type")
        .order_by(urgency, "received_at", "pk")
    )


def referrals_of_patient(*, patient_id: int) -> list[Referral]:
    """A patient's referrals still waiting, for the console's patient panel."""
    return _open_of_patient.rows(patient_id=patient_id)


# Read for every patient the console opens: compiled once per connection (config.compiled).
_open_of_patient: Compiled[Referral] = Compiled(
    lambda patient_id: (
        Referral.objects.filter(patient_id=patient_id, status=Referral.Status.OPEN)
        .select_related("appointment_type")
        .order_by("received_at", "pk")
    ),
    patient_id=stand_in_id(),
)
