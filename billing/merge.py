"""Billing's part of a patient merge (patients never imports billing): encounters follow
the patient. Runs inside the merge's transaction.
"""

from __future__ import annotations

from typing import Any

from config.audit import audit_set

from .models import Encounter


def encounters_merge(
    sender: Any, survivor_id: int, merged_id: int, **_: Any
) -> dict[str, list[int]]:
    """Move the merged patient's encounters to the survivor; returns their ids for the
    merge's snapshot."""
    moved = list(Encounter.objects.filter(patient_id=merged_id).values_list("pk", flat=True))
    Encounter.objects.filter(pk__in=moved).update(patient_id=survivor_id)
    audit_set(Encounter, moved, "patient", merged_id, survivor_id)  # no signal from update()
    return {"encounters": moved}


def encounters_unmerge(
    sender: Any, survivor_id: int, merged_id: int, snapshot: dict[str, list[int]], **_: Any
) -> None:
    """Move back exactly the encounters the merge moved."""
    moved = snapshot.get("encounters", [])
    Encounter.objects.filter(pk__in=moved).update(patient_id=merged_id)
    audit_set(Encounter, moved, "patient", survivor_id, merged_id)
