"""Calls: start, identify the caller, wrap up with an outcome."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from config.audit import audit_set
from patients.models import Patient

from ..models import (
    Call,
    Callback,
    CallReason,
)
from ..selectors.holds import open_holds
from .errors import (
    CallAlreadyEnded,
    CallbackTaken,
    InvalidOutcome,
    InvalidReason,
)
from .holds import _check_call, _release_runs
from .hubs import presence_wrap_done


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
    callback_due: datetime | None = None,
) -> Call:
    """End the call with an outcome; any holds still open on it are released.

    ``reason`` (a CallReason value) records why the patient called, which first-call
    resolution counts by; "" keeps the reason given at call start. The outcome
    "callback needed" puts a callback on the agent's worklist, due at ``callback_due``
    (default: ``settings.CALLBACK_DUE_MINUTES`` from now)."""
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
        if outcome == Call.Outcome.CALLBACK:
            Callback.objects.create(
                call=locked,
                patient=locked.patient,
                phone=locked.caller_phone,
                reason=locked.reason,
                assigned_to=by,
                due_at=callback_due or now + timedelta(minutes=settings.CALLBACK_DUE_MINUTES),
                created_at=now,
            )
    # Wrap-up began when the platform reported the hang-up; it ends with this click.
    presence_wrap_done(user=by, now=now)
    return locked


def callback_start(*, callback: Callback, by: User) -> Call:
    """Return a callback: open a call to the patient (or the number left) and mark the
    callback done by it. Raises CallbackTaken when it is no longer open (another agent
    started it first). The caller must not have a call in progress."""
    now = timezone.now()
    with transaction.atomic():
        call = Call.objects.create(
            agent=by,
            patient=callback.patient,
            caller_phone=callback.phone,
            reason=callback.reason,
            started_at=now,
        )
        # Conditional update: of two agents clicking the same callback, one wins.
        taken = Callback.objects.filter(pk=callback.pk, status=Callback.Status.OPEN).update(
            status=Callback.Status.DONE, done_at=now, done_by=by, done_call=call
        )
        if not taken:
            raise CallbackTaken()
    return call
