"""The master patient index: attach what location systems send to one hub patient.

Inbound ADT and FHIR Patient both arrive here as a plain ``PatientRecord``. The match
order is the one registries use: an identifier the hub already knows wins outright;
otherwise demographics are scored with ``patients.matching`` (the same rule as the
console's duplicate check). A near-certain match attaches; a possible one creates a
new record and flags the pair for a human, because a wrong automatic merge of two
people's charts is worse than a duplicate.
"""

from __future__ import annotations

from .batch import BatchItem, StaleBatch, patient_upsert_batch
from .merge import (
    ERR_MERGE_INACTIVE,
    ERR_MERGE_SELF,
    ERR_UNMERGE_DONE,
    patient_merge,
    patient_unmerge,
)
from .upsert import (
    PatientRecord,
    SourceIdentifier,
    UpsertResult,
    patient_find_by_identifiers,
    patient_upsert_from_source,
)

__all__ = [
    "ERR_MERGE_INACTIVE",
    "ERR_MERGE_SELF",
    "ERR_UNMERGE_DONE",
    "BatchItem",
    "PatientRecord",
    "SourceIdentifier",
    "StaleBatch",
    "UpsertResult",
    "patient_find_by_identifiers",
    "patient_merge",
    "patient_unmerge",
    "patient_upsert_batch",
    "patient_upsert_from_source",
]
