"""Break-glass: an agent widens their reach to one patient outside their region."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.db import transaction

from config.audit import audit_security_event
from patients.models import Patient

from ..models import AccessWiden, Call
from ..selectors import scoped_region_id
from .errors import PatientNotFound, WidenNeedsCall, WidenReasonMissing

MIN_REASON = 10


@transaction.atomic
def access_widen(*, user: Any, patient: Patient, call: Call | None, reason: str) -> AccessWiden:
    """Lets ``user`` read and book ``patient`` until ``call`` (theirs, open) ends.

    The widen row and its ACCESS audit entry on the patient are written together. The
    reason stays on the widen row (compliance reads it there); the audit entry carries
    ids only.
    """
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise WidenReasonMissing()
    if call is None or call.agent_id != user.pk or call.ended_at is not None:
        raise WidenNeedsCall()
    if patient.status == Patient.Status.MERGED:
        raise PatientNotFound()
    widen = AccessWiden.objects.create(
        user=user, patient=patient, call=call, region_id=scoped_region_id(user), reason=reason
    )
    audit_security_event(
        actor=user,
        instance=patient,
        event="access_widened",
        action=LogEntry.Action.ACCESS,
        widen_id=widen.pk,
        call_id=call.pk,
        region_id=widen.region_id,
    )
    return widen
