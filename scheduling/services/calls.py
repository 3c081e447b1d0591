"""Calls: start, identify the caller, wrap up with an outcome."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.audit import audit_set
from patients.models import Patient

from ..models import (
    Call,
    CallReason,
)
from ..selectors.holds import open_holds
from .errors import (
    CallAlreadyEnded,
    InvalidOutcome,
    InvalidReason,
)
from .holds import _check_call, _release_runs


def call_start(
    *, agent: User, caller_phone: str = "", patient: Patient | None = None, reason: str = ""
) -> Call:
    """Open a call. ``reason`` ("" until known) is a CallReason value."""
    if reason and reason not in CallReason.values:
        raise InvalidReason()
    digits = "".join(ch for ch in caller_phone if ch.isdigit())[:15]
    return Call.objects.create(
        agent=agent,
        patient=patient,
        caller_phone=digits,
        reason=reason[:60],
        started_at=timezone.now(),
    )


def call_attach_patient(*, call: Call, patient: Patient, by: User) -> Call:
    """The caller was identified: the call is about this patient (FCR counts per patient)."""
    _check_call(call, by)
    with transaction.atomic():
        locked = Call.objects.select_for_update().filter(pk=call.pk)
        before = locked.values_list("patient_id", flat=True).get()
        Call.objects.filter(pk=call.pk).update(patient=patient)
        # update() sends no signal: the change is audited here, in its transaction.
        audit_set(Call, [call.pk], "patient", before, patient.pk)
    call.patient = patient
    return call


def call_wrap_up(
    *,
    call: Call,
    by: User,
    outcome: str,
    notes: str = "",
    patient: Patient | None = None,
    reason: str = "",
) -> Call:
    """End the call with an outcome; any holds still open on it are released.

    ``reason`` (a CallReason value) records why the patient called, which first-call
    resolution counts by; "" keeps the reason given at call start."""
    if outcome not in Call.Outcome.values:
        raise InvalidOutcome()
    if reason and reason not in CallReason.values:
        raise InvalidReason()
    _check_call(call, by)
    now = timezone.now()
    with transaction.atomic():
        locked = Call.objects.select_for_update().get(pk=call.pk)
        if locked.ended_at is not None:
            raise CallAlreadyEnded()
        locked.ended_at = max(now, locked.started_at)
        locked.outcome = outcome
        locked.notes = notes
        if patient is not None:
            locked.patient = patient
        if reason:
            locked.reason = reason
        locked.save(update_fields=["ended_at", "outcome", "notes", "patient", "reason"])
        _release_runs(open_holds().filter(call=locked), now=now)
    return locked
