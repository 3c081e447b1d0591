"""Merging two hub records of one person (ADT^A40) and undoing it.

Rows of other apps that point at the patient (appointments, calls, waitlist entries,
encounters) move in those apps' ``patient_merged`` / ``patient_unmerged`` receivers,
inside this transaction.
"""

from __future__ import annotations

from typing import Any, cast

from django.db import transaction
from django.utils import timezone

from config.audit import audit_set

from ..models import (
    ClinicalFact,
    Coverage,
    DuplicateCandidate,
    Patient,
    PatientIdentifier,
    PatientMerge,
)
from ..signals import patient_merged, patient_unmerged

ERR_MERGE_SELF = "A patient cannot be merged into itself."
ERR_MERGE_INACTIVE = "Both patients must be active to merge."
ERR_UNMERGE_DONE = "This merge has already been reversed."


@transaction.atomic
def patient_merge(
    *, survivor: Patient, merged: Patient, by: Any = None, origin_connector_id: int | None = None
) -> PatientMerge:
    """Fold ``merged`` into ``survivor`` (ADT^A40): appointments, coverage, identifiers,
    clinical facts, waitlist entries and calls move; the snapshot lets it be undone.
    """
    if survivor.pk == merged.pk:
        raise ValueError(ERR_MERGE_SELF)
    survivor, merged = (
        Patient.objects.select_for_update().get(pk=survivor.pk),
        Patient.objects.select_for_update().get(pk=merged.pk),
    )
    if survivor.status != Patient.Status.ACTIVE or merged.status != Patient.Status.ACTIVE:
        raise ValueError(ERR_MERGE_INACTIVE)
    snapshot: dict[str, list[int]] = {
        "identifiers": list(merged.identifiers.values_list("pk", flat=True)),
        "clinical_facts": list(merged.clinical_facts.values_list("pk", flat=True)),
        "coverages": list(merged.coverages.values_list("pk", flat=True)),
        "coverages_deactivated": [],
    }
    # The survivor keeps its own active coverage at a priority both have.
    taken = set(survivor.coverages.filter(active=True).values_list("priority", flat=True))
    clash = list(
        merged.coverages.filter(active=True, priority__in=taken).values_list("pk", flat=True)
    )
    Coverage.objects.filter(pk__in=clash).update(active=False)
    snapshot["coverages_deactivated"] = clash
    PatientIdentifier.objects.filter(pk__in=snapshot["identifiers"]).update(patient=survivor)
    ClinicalFact.objects.filter(pk__in=snapshot["clinical_facts"]).update(patient=survivor)
    Coverage.objects.filter(pk__in=snapshot["coverages"]).update(patient=survivor)
    # Set-based updates send no signals: their audit entries are written here, in the
    # merge's transaction.
    audit_set(Coverage, clash, "active", True, False)
    audit_set(PatientIdentifier, snapshot["identifiers"], "patient", merged.pk, survivor.pk)
    audit_set(ClinicalFact, snapshot["clinical_facts"], "patient", merged.pk, survivor.pk)
    audit_set(Coverage, snapshot["coverages"], "patient", merged.pk, survivor.pk)
    # Appointments, calls and waitlist entries (scheduling) and encounters (billing) move
    # in their apps' receivers, which return what they moved for the snapshot.
    for _, moved in patient_merged.send(
        sender=Patient,
        survivor_id=survivor.pk,
        merged_id=merged.pk,
        location_id=survivor.home_location_id,
        origin_connector_id=origin_connector_id,
    ):
        if moved:
            snapshot.update(cast("dict[str, list[int]]", moved))
    merged.status = Patient.Status.MERGED
    merged.merged_into = survivor
    merged.save(update_fields=["status", "merged_into", "updated_at"])
    low, high = sorted([survivor.pk, merged.pk])
    DuplicateCandidate.objects.filter(patient_a_id=low, patient_b_id=high).update(
        status=DuplicateCandidate.Status.MERGED
    )
    merge = PatientMerge.objects.create(
        survivor=survivor,
        merged=merged,
        snapshot=snapshot,
        merged_by=by if getattr(by, "pk", None) else None,
        merged_at=timezone.now(),
    )
    return merge


@transaction.atomic
def patient_unmerge(*, merge: PatientMerge, by: Any = None) -> Patient:
    """Reverse a merge exactly: the rows that moved go back, the record lives again."""
    merge = PatientMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.reversed_at is not None:
        raise ValueError(ERR_UNMERGE_DONE)
    snap = merge.snapshot
    merged = Patient.objects.select_for_update().get(pk=merge.merged_id)
    PatientIdentifier.objects.filter(pk__in=snap.get("identifiers", [])).update(patient=merged)
    ClinicalFact.objects.filter(pk__in=snap.get("clinical_facts", [])).update(patient=merged)
    Coverage.objects.filter(pk__in=snap.get("coverages", [])).update(patient=merged)
    Coverage.objects.filter(pk__in=snap.get("coverages_deactivated", [])).update(active=True)
    survivor_id = merge.survivor_id
    audit_set(PatientIdentifier, snap.get("identifiers", []), "patient", survivor_id, merged.pk)
    audit_set(ClinicalFact, snap.get("clinical_facts", []), "patient", survivor_id, merged.pk)
    audit_set(Coverage, snap.get("coverages", []), "patient", survivor_id, merged.pk)
    audit_set(Coverage, snap.get("coverages_deactivated", []), "active", False, True)
    merged.status = Patient.Status.ACTIVE
    merged.merged_into = None
    merged.save(update_fields=["status", "merged_into", "updated_at"])
    merge.reversed_at = timezone.now()
    merge.save(update_fields=["reversed_at"])
    patient_unmerged.send(
        sender=Patient,
        survivor_id=merge.survivor_id,
        merged_id=merged.pk,
        merge_id=merge.pk,
        location_id=merged.home_location_id,
        snapshot=snap,
    )
    return merged
