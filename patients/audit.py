"""Every create, update and delete of PHI-bearing patient data is audited."""

from __future__ import annotations

from auditlog.registry import auditlog

from .models import (
    ClinicalFact,
    ClinicalNeedRule,
    Coverage,
    Patient,
    PatientIdentifier,
    PatientMerge,
)

# Blind indexes and the birth year are derived from audited fields: no news in a diff.
auditlog.register(
    Patient,
    exclude_fields=[
        "first_name_bidx",
        "last_name_bidx",
        "date_of_birth_bidx",
        "phone_bidx",
        "birth_year",
    ],
)
auditlog.register(PatientIdentifier, exclude_fields=["value_bidx"])
auditlog.register(Coverage, exclude_fields=["member_id_bidx"])
auditlog.register(ClinicalFact, exclude_fields=["code_bidx", "source_key"])
auditlog.register(ClinicalNeedRule)
auditlog.register(PatientMerge, exclude_fields=["snapshot"])
