"""Calls: start, identify the caller, wrap up with an outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

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
    Call.objects.filter(pk=call.pk).update(patient=patient)
    call.patient = patient
    return call


ABANDONED_NOTE = "Closed automatically: left open past {minutes} minutes."


def call_abandon(*, call_id: int, now: datetime | None = None) -> bool:
    """Close a call left open past ``CALL_ABANDON_MINUTES`` as abandoned and release its
    holds. Returns False when there was nothing to do (already ended, gone, or not yet
    past the limit), so running it twice, or racing a late wrap-up, changes nothing more.

    The conditional update is the claim: a wrap-up that locked the row first has set
    ``ended_at`` and the update matches no row.
    """
    now = now or timezone.now()
    minutes = settings.CALL_ABANDON_MINUTES
    with transaction.atomic():
        closed = Call.objects.filter(
            pk=call_id,
            ended_at__isnull=True,
            started_at__lte=now - timedelta(minutes=minutes),
        ).update(
            ended_at=now,
            outcome=Call.Outcome.ABANDONED,
            notes=ABANDONED_NOTE.format(minutes=minutes),
        )
        if closed:
            _release_runs(open_holds().filter(call_id=call_id), now=now)
    return bool(closed)


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
    if outcome not in Call.Outcome.values or outcome == Call.Outcome.ABANDONED:
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
