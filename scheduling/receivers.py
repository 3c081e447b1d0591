"""Scheduling's reactions to patient events (patients never imports scheduling).

Receivers run inside the patients service's transaction, so the rows they move commit
or roll back with the merge.
"""

from __future__ import annotations

from typing import Any

from config.audit import audit_set

from .models import Appointment, Call, Referral, Waitlist

# The rows that follow a patient merge, with the snapshot key each is kept under.
MOVED: tuple[tuple[Any, str], ...] = (
    (Appointment, "appointments"),
    (Waitlist, "waitlist"),
    (Call, "calls"),
    (Referral, "referrals"),
)


def patient_rows_merge(
    sender: Any, survivor_id: int, merged_id: int, **_: Any
) -> dict[str, list[int]]:
    """Move the merged patient's appointments, waitlist entries and calls to the
    survivor; returns their ids for the merge's snapshot."""
    moved = {
        "appointments": list(
            Appointment.objects.filter(patient_id=merged_id).values_list("pk", flat=True)
        ),
        "waitlist": list(
            Waitlist.objects.filter(patient_id=merged_id).values_list("pk", flat=True)
        ),
        "calls": list(Call.objects.filter(patient_id=merged_id).values_list("pk", flat=True)),
        "referrals": list(
            Referral.objects.filter(patient_id=merged_id).values_list("pk", flat=True)
        ),
    }
    for model, key in MOVED:
        model.objects.filter(pk__in=moved[key]).update(patient_id=survivor_id)
        # Set-based updates send no signals: audited here, inside the merge's transaction.
        audit_set(model, moved[key], "patient", merged_id, survivor_id)
    return moved


def patient_rows_unmerge(
    sender: Any, survivor_id: int, merged_id: int, snapshot: dict[str, list[int]], **_: Any
) -> None:
    """Move back exactly the rows the merge moved."""
    for model, key in MOVED:
        model.objects.filter(pk__in=snapshot.get(key, [])).update(patient_id=merged_id)
        audit_set(model, snapshot.get(key, []), "patient", survivor_id, merged_id)


def referrals_follow_booking(
    sender: Any,
    appointment: Appointment,
    event: str,
    previous: Appointment | None = None,
    **_: Any,
) -> None:
    """A booking answers an open referral; a reschedule carries the answer to the new
    appointment; a cancellation leaves the referral waiting again, so it is not lost."""
    from .services.referrals import referrals_answer

    if event == "booked":
        referrals_answer(appointments=[appointment])
    elif event == "rescheduled" and previous is not None:
        moved = Referral.objects.filter(appointment=previous).update(appointment=appointment)
        if not moved:
            referrals_answer(appointments=[appointment])
    elif event in ENDED:
        _referrals_reopen([appointment.pk])


ENDED = {"cancelled", "no_show"}


def _referrals_reopen(appointment_ids: list[int]) -> None:
    reopened = list(
        Referral.objects.filter(appointment_id__in=appointment_ids).values_list("pk", flat=True)
    )
    Referral.objects.filter(pk__in=reopened).update(
        status=Referral.Status.OPEN, appointment=None, booked_at=None
    )
    audit_set(Referral, reopened, "status", "booked", "open")


def referrals_follow_changes(sender: Any, ended: list[tuple[Appointment, str]], **_: Any) -> None:
    _referrals_reopen([appt.pk for appt, event in ended if event in ENDED])


def referrals_follow_batch(sender: Any, appointments: list[Appointment], **_: Any) -> None:
    from .services.referrals import referrals_answer

    referrals_answer(appointments=appointments)
