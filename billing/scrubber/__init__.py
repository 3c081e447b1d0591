"""The claim scrubber: stop a bad claim here, not at the payer.

``rules`` holds the finding codes and the pure rules over a frozen claim context;
``claims`` loads contexts in bulk, runs the rules and records findings and statuses.
"""

from __future__ import annotations

from .claims import ScrubOutcome, claim_scrub, claims_scrub, load_contexts, scrub_settings
from .rules import (
    BILLING_NPI_INVALID,
    CHARGE_BAD_POINTER,
    CHARGE_NO_DIAGNOSIS,
    CHARGE_NOT_PRICED,
    DATE_MISMATCH,
    DUPLICATE_CLAIM,
    DX_PROCEDURE_MISMATCH,
    HIGH_DOLLAR_UNDOCUMENTED,
    ICD_INVALID,
    ICD_NOT_BILLABLE,
    NO_CHARGES,
    NOT_DOCUMENTED,
    NPI_INVALID,
    PAYER_MISSING,
    RULES,
    SCRUBBABLE,
    STANDING,
    SUBSCRIBER_MISSING,
    ClaimContext,
    Finding,
    LineContext,
    Rule,
    ScrubSettings,
    icd10_status,
    scrub,
)

__all__ = [
    "BILLING_NPI_INVALID",
    "CHARGE_BAD_POINTER",
    "CHARGE_NOT_PRICED",
    "CHARGE_NO_DIAGNOSIS",
    "DATE_MISMATCH",
    "DUPLICATE_CLAIM",
    "DX_PROCEDURE_MISMATCH",
    "HIGH_DOLLAR_UNDOCUMENTED",
    "ICD_INVALID",
    "ICD_NOT_BILLABLE",
    "NOT_DOCUMENTED",
    "NO_CHARGES",
    "NPI_INVALID",
    "PAYER_MISSING",
    "RULES",
    "SCRUBBABLE",
    "STANDING",
    "SUBSCRIBER_MISSING",
    "ClaimContext",
    "Finding",
    "LineContext",
    "Rule",
    "ScrubOutcome",
    "ScrubSettings",
    "claim_scrub",
    "claims_scrub",
    "icd10_status",
    "load_contexts",
    "scrub",
    "scrub_settings",
]
