"""The scrubber's rules table: finding codes, the frozen claim context, one rule each.

Each rule is a pure function over a frozen ``ClaimContext`` (no queries inside a rule,
like the scheduling rules engine), returning findings with a constant code and a
plain-language message a biller can act on. ``scrub`` runs them all in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

from scheduling.validators import npi_is_valid

from ..icd10 import icd10_billable, icd10_billable_under, icd10_exists
from ..models import Claim

# Finding codes: constants that tests, the work queue and reports key on.
ICD_INVALID = "ICD_INVALID"
ICD_NOT_BILLABLE = "ICD_NOT_BILLABLE"
CHARGE_NO_DIAGNOSIS = "CHARGE_NO_DIAGNOSIS"
CHARGE_BAD_POINTER = "CHARGE_BAD_POINTER"
DX_PROCEDURE_MISMATCH = "DX_PROCEDURE_MISMATCH"
NOT_DOCUMENTED = "NOT_DOCUMENTED"
DATE_MISMATCH = "DATE_MISMATCH"
HIGH_DOLLAR_UNDOCUMENTED = "HIGH_DOLLAR_UNDOCUMENTED"
NPI_INVALID = "NPI_INVALID"
BILLING_NPI_INVALID = "BILLING_NPI_INVALID"
SUBSCRIBER_MISSING = "SUBSCRIBER_MISSING"
PAYER_MISSING = "PAYER_MISSING"
DUPLICATE_CLAIM = "DUPLICATE_CLAIM"
CHARGE_NOT_PRICED = "CHARGE_NOT_PRICED"
NO_CHARGES = "NO_CHARGES"

SCRUBBABLE = (Claim.Status.DRAFT, Claim.Status.HELD, Claim.Status.READY)
# A claim in one of these states still stands at the payer: a second one for the same
# visit is a duplicate. Rejected and denied claims may be replaced.
STANDING = (
    Claim.Status.DRAFT,
    Claim.Status.HELD,
    Claim.Status.READY,
    Claim.Status.SUBMITTED,
    Claim.Status.ACCEPTED,
    Claim.Status.PAID,
    Claim.Status.PARTIAL,
)


@dataclass(frozen=True)
class Finding:
    code: str
    message: str


@dataclass(frozen=True)
class LineContext:
    line_number: int
    procedure_code: str
    amount: Decimal
    pointers: tuple[int, ...]
    service_date: date


@dataclass(frozen=True)
class ClaimContext:
    claim_id: int
    diagnoses: tuple[str, ...]  # in sequence order
    lines: tuple[LineContext, ...]
    date_of_service: date
    documented_on: date | None  # local date of the EHR signature at the location
    documentation_ref: str
    provider_npi: str
    billing_npi: str
    member_id: str
    subscriber_last_name: str
    subscriber_first_name: str
    subscriber_dob: date | None
    payer_code: str
    payer_active: bool
    duplicate_of: str  # claim number of another standing claim for the same visit, or ""
    # The EHR signed a note for the visit (Encounter.ehr_documented_at), or a biller
    # attested, with a reason, that the documentation exists (DocumentationAttestation).
    ehr_documented: bool = False
    documentation_attested: bool = False


@dataclass(frozen=True)
class ScrubSettings:
    documentation_threshold: Decimal
    documentation_lag_days: int
    rules: tuple[tuple[str, tuple[str, ...], str], ...]  # (procedure prefix, dx prefixes, why)


Rule = Callable[[ClaimContext, ScrubSettings], list[Finding]]


@lru_cache(maxsize=20000)
def icd10_status(code: str) -> str:
    """ "ok", "invalid" or "category" for an ICD-10-CM code without the dot (offline set)."""
    if not icd10_exists(code):
        return "invalid"
    return "ok" if icd10_billable(code) else "category"


def rule_icd10_billable(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    out = []
    for n, code in enumerate(ctx.diagnoses, start=1):
        status = icd10_status(code)
        if status == "invalid":
            near = icd10_billable_under(code)
            hint = f" Billable codes near it: {', '.join(near)}." if near else ""
            out.append(
                Finding(ICD_INVALID, f"Diagnosis {n} ({code}) is not an ICD-10-CM code.{hint}")
            )
        elif status == "category":
            out.append(
                Finding(
                    ICD_NOT_BILLABLE,
                    f"Diagnosis {n} ({code}) is a category, not a billable code: "
                    "code it to the highest specificity, e.g. "
                    f"{', '.join(icd10_billable_under(code))}.",
                )
            )
    return out


def _billable_hint(prefixes: Sequence[str]) -> str:
    """Billable codes a biller can use for a rule's diagnosis prefixes (which are often
    categories such as M26, which the billability rule itself rejects)."""
    suggestions: list[str] = []
    for prefix in prefixes:
        if icd10_status(prefix) != "ok":
            suggestions += icd10_billable_under(prefix, limit=3)
    return f"; billable codes: {', '.join(suggestions[:6])}" if suggestions else ""


def rule_charges_point_to_diagnoses(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    out = []
    for line in ctx.lines:
        if not line.pointers:
            out.append(
                Finding(
                    CHARGE_NO_DIAGNOSIS,
                    f"Line {line.line_number} ({line.procedure_code}) is linked to no diagnosis.",
                )
            )
            continue
        bad = [p for p in line.pointers if not 1 <= p <= len(ctx.diagnoses)]
        if bad or len(line.pointers) > 4:
            out.append(
                Finding(
                    CHARGE_BAD_POINTER,
                    f"Line {line.line_number} ({line.procedure_code}) points at diagnosis "
                    f"{', '.join(map(str, bad or line.pointers[4:]))}, which the claim does not "
                    "have (at most 4 pointers to its diagnoses).",
                )
            )
    return out


def _rule_for(code: str, rules: Sequence[tuple[str, tuple[str, ...], str]]):
    best = None
    for rule in rules:
        if code.startswith(rule[0]) and (best is None or len(rule[0]) > len(best[0])):
            best = rule
    return best


def rule_diagnosis_procedure_pairs(ctx: ClaimContext, cfg: ScrubSettings) -> list[Finding]:
    out = []
    for line in ctx.lines:
        rule = _rule_for(line.procedure_code, cfg.rules)
        if rule is None:
            continue
        pointed = [ctx.diagnoses[p - 1] for p in line.pointers if 1 <= p <= len(ctx.diagnoses)]
        if not pointed:
            continue  # reported by the pointer rule
        if not any(dx.startswith(prefix) for dx in pointed for prefix in rule[1]):
            why = f" ({rule[2]})" if rule[2] else ""
            out.append(
                Finding(
                    DX_PROCEDURE_MISMATCH,
                    f"Line {line.line_number} ({line.procedure_code}) is not supported by "
                    f"diagnosis {', '.join(pointed)}: it needs one of "
                    f"{', '.join(rule[1])}{why}{_billable_hint(rule[1])}.",
                )
            )
    return out


def rule_dates_match_documentation(ctx: ClaimContext, cfg: ScrubSettings) -> list[Finding]:
    if ctx.documented_on is None:
        return [Finding(NOT_DOCUMENTED, "The EHR has not documented this encounter.")]
    out = []
    lag = (ctx.documented_on - ctx.date_of_service).days
    if lag < 0 or lag > cfg.documentation_lag_days:
        out.append(
            Finding(
                DATE_MISMATCH,
                f"The visit is billed for {ctx.date_of_service:%Y-%m-%d} but the EHR "
                f"documentation is dated {ctx.documented_on:%Y-%m-%d}.",
            )
        )
    for line in ctx.lines:
        if line.service_date != ctx.date_of_service:
            out.append(
                Finding(
                    DATE_MISMATCH,
                    f"Line {line.line_number} ({line.procedure_code}) is billed for "
                    f"{line.service_date:%Y-%m-%d}, not the documented visit date "
                    f"{ctx.date_of_service:%Y-%m-%d}.",
                )
            )
    return out


def rule_high_dollar_documented(ctx: ClaimContext, cfg: ScrubSettings) -> list[Finding]:
    # A reference string proves nothing (a DFT's message id, a biller's typing): only a
    # note the EHR signed, with its time, or a biller's reasoned attestation will do.
    if ctx.ehr_documented or ctx.documentation_attested:
        return []
    return [
        Finding(
            HIGH_DOLLAR_UNDOCUMENTED,
            f"Line {line.line_number} ({line.procedure_code}, ${line.amount}) is over the "
            f"${cfg.documentation_threshold} threshold and the EHR has not signed a note for "
            "this visit. Have the EHR document it, or attest where the documentation is.",
        )
        for line in ctx.lines
        if line.amount > cfg.documentation_threshold
    ]


def rule_npi_check_digit(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    out = []
    if not npi_is_valid(ctx.provider_npi):
        out.append(
            Finding(
                NPI_INVALID,
                f"The rendering provider's NPI {ctx.provider_npi or '(none)'} fails the NPI "
                "check digit.",
            )
        )
    if not npi_is_valid(ctx.billing_npi):
        out.append(
            Finding(
                BILLING_NPI_INVALID,
                f"The billing location's NPI {ctx.billing_npi or '(none)'} is missing or "
                "fails the check digit.",
            )
        )
    return out


def rule_subscriber_and_payer(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    missing = [
        label
        for label, value in (
            ("member id", ctx.member_id),
            ("last name", ctx.subscriber_last_name),
            ("first name", ctx.subscriber_first_name),
            ("date of birth", ctx.subscriber_dob),
        )
        if not value
    ]
    out = []
    if missing:
        out.append(
            Finding(SUBSCRIBER_MISSING, f"The subscriber's {', '.join(missing)} is missing.")
        )
    if not ctx.payer_code or not ctx.payer_active:
        out.append(
            Finding(PAYER_MISSING, "The payer has no clearinghouse payer id or is inactive.")
        )
    return out


def rule_not_duplicate(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    if not ctx.duplicate_of:
        return []
    return [
        Finding(
            DUPLICATE_CLAIM,
            f"Claim {ctx.duplicate_of} already bills the same patient, provider, date and "
            "procedures.",
        )
    ]


def rule_lines_priced(ctx: ClaimContext, _: ScrubSettings) -> list[Finding]:
    if not ctx.lines:
        return [Finding(NO_CHARGES, "The claim has no charge lines.")]
    return [
        Finding(
            CHARGE_NOT_PRICED,
            f"Line {line.line_number} ({line.procedure_code}) has no fee on the payer's fee "
            "schedule.",
        )
        for line in ctx.lines
        if line.amount <= 0
    ]


RULES: tuple[Rule, ...] = (
    rule_lines_priced,
    rule_icd10_billable,
    rule_charges_point_to_diagnoses,
    rule_diagnosis_procedure_pairs,
    rule_dates_match_documentation,
    rule_high_dollar_documented,
    rule_npi_check_digit,
    rule_subscriber_and_payer,
    rule_not_duplicate,
)


def scrub(ctx: ClaimContext, cfg: ScrubSettings) -> list[Finding]:
    """All findings for one claim, in rule order, without duplicates."""
    seen: dict[tuple[str, str], Finding] = {}
    for rule in RULES:
        for finding in rule(ctx, cfg):
            seen.setdefault((finding.code, finding.message), finding)
    return list(seen.values())
