"""Every create, update and delete of PHI-bearing patient data is audited."""

from __future__ import annotations

from auditlog.registry import auditlog

from .models import ClinicalFact, Coverage, Patient, PatientIdentifier, PatientMerge

auditlog.register(Patient)
auditlog.register(PatientIdentifier)
auditlog.register(Coverage)
auditlog.register(ClinicalFact)
auditlog.register(PatientMerge, exclude_fields=["snapshot"])
