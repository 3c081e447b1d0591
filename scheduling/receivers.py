"""Scheduling's reactions to patient events (patients never imports scheduling).

Receivers run inside the patients service's transaction, so the rows they move commit
or roll back with the merge.
"""

from __future__ import annotations

from typing import Any

from config.audit import audit_set

from .models import Appointment, Call, Waitlist


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
    }
    Appointment.objects.filter(pk__in=moved["appointments"]).update(patient_id=survivor_id)
    Waitlist.objects.filter(pk__in=moved["waitlist"]).update(patient_id=survivor_id)
    Call.objects.filter(pk__in=moved["calls"]).update(patient_id=survivor_id)
    # Set-based updates send no signals: audited here, inside the merge's transaction.
    for model, key in ((Appointment, "appointments"), (Waitlist, "waitlist"), (Call, "calls")):
        audit_set(model, moved[key], "patient", merged_id, survivor_id)
    return moved


def patient_rows_unmerge(
    sender: Any, survivor_id: int, merged_id: int, snapshot: dict[str, list[int]], **_: Any
) -> None:
    """Move back exactly the rows the merge moved."""
    Appointment.objects.filter(pk__in=snapshot.get("appointments", [])).update(patient_id=merged_id)
    Waitlist.objects.filter(pk__in=snapshot.get("waitlist", [])).update(patient_id=merged_id)
    Call.objects.filter(pk__in=snapshot.get("calls", [])).update(patient_id=merged_id)
    for model, key in ((Appointment, "appointments"), (Waitlist, "waitlist"), (Call, "calls")):
        audit_set(model, snapshot.get(key, []), "patient", survivor_id, merged_id)
