"""Billing's PHI-bearing models under django-auditlog.

Single-row saves are logged by auditlog's signals; the batch paths log theirs through
``config.audit`` (``audit_updates`` / ``audit_creates``).
"""

from __future__ import annotations

from auditlog.registry import auditlog

from .models import Charge, Claim, Diagnosis, EligibilityCheck, Encounter, RemittanceClaim

auditlog.register(EligibilityCheck)
auditlog.register(Encounter)
auditlog.register(Diagnosis)
auditlog.register(Charge)
auditlog.register(Claim)
auditlog.register(RemittanceClaim)
