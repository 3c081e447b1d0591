"""The claim scrubber: stop a bad claim here, not at the payer.

Each rule is a pure function over a frozen ``ClaimContext`` (no queries inside a rule,
like the scheduling rules engine), returning findings with a constant code and a
plain-language message a biller can act on. ``claim_scrub`` loads one claim's context and
records the result; ``claims_scrub`` does the same for many claims with a fixed number of
queries (the 10,000-claim benchmark depends on it).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.audit import audit_updates
from config.fastsql import insert_rows
from scheduling.validators import npi_is_valid

from .icd10 import icd10_billable, icd10_exists
from .models import (
    Charge,
    Claim,
    ClaimFinding,
    ClaimStatusHistory,
    Diagnosis,
    DiagnosisProcedureRule,
)

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
            out.append(Finding(ICD_INVALID, f"Diagnosis {n} ({code}) is not an ICD-10-CM code."))
        elif status == "category":
            out.append(
                Finding(
                    ICD_NOT_BILLABLE,
                    f"Diagnosis {n} ({code}) is a category, not a billable code: "
                    "code it to the highest specificity.",
                )
            )
    return out


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
                    f"{', '.join(rule[1])}{why}.",
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
    if ctx.documentation_ref:
        return []
    return [
        Finding(
            HIGH_DOLLAR_UNDOCUMENTED,
            f"Line {line.line_number} ({line.procedure_code}, ${line.amount}) is over the "
            f"${cfg.documentation_threshold} threshold and has no EHR documentation reference.",
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


# ---------------------------------------------------------------------------
# Loading contexts and recording results
# ---------------------------------------------------------------------------
def scrub_settings() -> ScrubSettings:
    rules = tuple(
        (r.procedure_prefix.upper(), tuple(p.upper() for p in r.diagnosis_prefixes), r.description)
        for r in DiagnosisProcedureRule.objects.filter(active=True)
    )
    return ScrubSettings(
        documentation_threshold=Decimal(str(settings.BILLING_DOCUMENTATION_THRESHOLD)),
        documentation_lag_days=settings.BILLING_DOCUMENTATION_LAG_DAYS,
        rules=rules,
    )


_CLAIM_FIELDS = (
    "id",
    "claim_number",
    "status",
    "encounter_id",
    "encounter__patient_id",
    "encounter__provider_id",
    "encounter__date_of_service",
    "encounter__documented_at",
    "encounter__documentation_ref",
    "encounter__location__time_zone",
    "encounter__location__npi",
    "encounter__provider__npi",
    "encounter__patient__first_name",
    "encounter__patient__last_name",
    "encounter__patient__date_of_birth",
    "coverage__member_id",
    "coverage__relationship",
    "coverage__subscriber_first_name",
    "coverage__subscriber_last_name",
    "coverage__subscriber_dob",
    "payer__payer_code",
    "payer__active",
)


def _lines_by_encounter(encounter_ids: Iterable[int]) -> dict[int, list[LineContext]]:
    out: dict[int, list[LineContext]] = defaultdict(list)
    for enc_id, number, code, amount, pointers, day in (
        Charge.objects.filter(encounter_id__in=list(encounter_ids))
        .order_by("encounter_id", "line_number")
        .values_list(
            "encounter_id",
            "line_number",
            "procedure_code",
            "amount",
            "diagnosis_pointers",
            "service_date",
        )
    ):
        out[enc_id].append(
            LineContext(number, code, amount, tuple(int(p) for p in pointers or ()), day)
        )
    return out


def _diagnoses_by_encounter(encounter_ids: Iterable[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for enc_id, code in (
        Diagnosis.objects.filter(encounter_id__in=list(encounter_ids))
        .order_by("encounter_id", "sequence")
        .values_list("encounter_id", "code")
    ):
        out[enc_id].append(code)
    return out


def load_contexts(claim_ids: Sequence[int]) -> tuple[list[ClaimContext], dict[int, str]]:
    """Contexts for claims, in five queries whatever their number; also their statuses.

    Reads plain values rather than model instances: instantiating half a million rows
    is what made the first version too slow for a 10,000-claim run.
    """
    rows = list(
        Claim.objects.filter(pk__in=list(claim_ids)).order_by("pk").values_list(*_CLAIM_FIELDS)
    )
    if not rows:
        return [], {}
    enc_ids = [r[3] for r in rows]
    lines = _lines_by_encounter(enc_ids)
    dxs = _diagnoses_by_encounter(enc_ids)
    # Duplicates: other standing claims for the same patient, provider and day with the
    # same procedure codes; the claim created first keeps the visit.
    patients = {r[4] for r in rows}
    days = {r[6] for r in rows}
    candidates = list(
        Claim.objects.filter(
            encounter__patient_id__in=patients,
            encounter__date_of_service__in=days,
            status__in=STANDING,
        ).values_list(
            "id",
            "claim_number",
            "encounter_id",
            "encounter__patient_id",
            "encounter__provider_id",
            "encounter__date_of_service",
        )
    )
    extra = {c[2] for c in candidates} - set(enc_ids)
    lines.update(_lines_by_encounter(extra))
    by_visit: dict[tuple, list[tuple[int, str]]] = defaultdict(list)
    for pk, number, enc_id, patient_id, provider_id, day in candidates:
        codes = tuple(sorted(ln.procedure_code for ln in lines.get(enc_id, [])))
        by_visit[(patient_id, provider_id, day, codes)].append((pk, number))
    out = []
    statuses = {}
    for r in rows:
        (pk, number, status, enc_id, patient_id, provider_id, dos, documented_at, ref, tz,
         billing_npi, provider_npi, first, last, dob, member_id, relationship, sub_first,
         sub_last, sub_dob, payer_code, payer_active) = r  # fmt: skip
        statuses[pk] = status
        enc_lines = lines.get(enc_id, [])
        key = (patient_id, provider_id, dos, tuple(sorted(ln.procedure_code for ln in enc_lines)))
        duplicate_of = next((n for other, n in sorted(by_visit.get(key, [])) if other < pk), "")
        is_self = relationship == "18"
        out.append(
            ClaimContext(
                claim_id=pk,
                diagnoses=tuple(dxs.get(enc_id, [])),
                lines=tuple(enc_lines),
                date_of_service=dos,
                documented_on=documented_at.astimezone(ZoneInfo(tz)).date()
                if documented_at
                else None,
                documentation_ref=ref,
                provider_npi=provider_npi,
                billing_npi=billing_npi,
                member_id=member_id,
                subscriber_last_name=(sub_last or last) if is_self else sub_last,
                subscriber_first_name=(sub_first or first) if is_self else sub_first,
                subscriber_dob=(sub_dob or dob) if is_self else sub_dob,
                payer_code=payer_code,
                payer_active=payer_active,
                duplicate_of=duplicate_of,
            )
        )
    return out, statuses


@dataclass(frozen=True)
class ScrubOutcome:
    clean: list[int]
    held: dict[int, list[Finding]]


def _record(statuses: dict[int, str], results: dict[int, list[Finding]]) -> None:
    """Store findings and move claims to READY or HELD, keeping resolved findings as history."""
    now = timezone.now()
    claim_ids = list(statuses)
    open_findings: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
    for fid, claim_id, code, message in ClaimFinding.objects.filter(
        claim_id__in=claim_ids, resolved=False
    ).values_list("id", "claim_id", "code", "message"):
        open_findings[claim_id][(code, message)] = fid
    to_resolve: list[int] = []
    to_create: list[ClaimFinding] = []
    history: list[ClaimStatusHistory] = []
    ready: list[int] = []
    held: list[int] = []
    for claim_id, status in statuses.items():
        found = {(f.code, f.message[:300]) for f in results[claim_id]}
        existing = open_findings.get(claim_id, {})
        to_resolve += [fid for key, fid in existing.items() if key not in found]
        to_create += [
            ClaimFinding(claim_id=claim_id, code=code, message=message, created_at=now)
            for code, message in sorted(found)
            if (code, message) not in existing
        ]
        new_status = Claim.Status.HELD if found else Claim.Status.READY
        if status != new_status:
            (held if found else ready).append(claim_id)
            note = f"Scrubber: {len(found)} finding(s)" if found else "Scrubber: clean"
            history.append(
                ClaimStatusHistory(claim_id=claim_id, status=new_status, note=note, at=now)
            )
    ClaimFinding.objects.filter(id__in=to_resolve).update(resolved=True)
    insert_rows(
        ClaimFinding,
        ["claim", "code", "message", "resolved", "created_at"],
        ((f.claim_id, f.code, f.message, False, now) for f in to_create),
    )
    insert_rows(
        ClaimStatusHistory,
        ["claim", "status", "note", "at"],
        ((h.claim_id, h.status, h.note, h.at) for h in history),
    )
    # Called per chunk of at most 2,000 claims (claims_scrub), so one UPDATE each.
    Claim.objects.filter(id__in=ready).update(status=Claim.Status.READY)
    Claim.objects.filter(id__in=held).update(status=Claim.Status.HELD)
    moved = dict.fromkeys(ready, Claim.Status.READY) | dict.fromkeys(held, Claim.Status.HELD)
    numbers = dict(Claim.objects.filter(id__in=list(moved)).values_list("id", "claim_number"))
    audit_updates(
        Claim,
        ((pk, numbers[pk], {"status": (statuses[pk], new)}) for pk, new in moved.items()),
    )


@transaction.atomic
def claims_scrub(*, claim_ids: Iterable[int]) -> ScrubOutcome:
    """Scrub claims that have not left the building; others are ignored. Idempotent."""
    cfg = scrub_settings()
    ids = list(claim_ids)
    clean: list[int] = []
    held: dict[int, list[Finding]] = {}
    for start in range(0, len(ids), 2000):
        # Lock the chunk: a claim being scrubbed cannot be batched or edited meanwhile.
        chunk = list(
            Claim.objects.select_for_update()
            .filter(id__in=ids[start : start + 2000], status__in=SCRUBBABLE)
            .order_by("id")
            .values_list("id", flat=True)
        )
        contexts, statuses = load_contexts(chunk)
        results = {ctx.claim_id: scrub(ctx, cfg) for ctx in contexts}
        _record(statuses, results)
        for claim_id, findings in results.items():
            if findings:
                held[claim_id] = findings
            else:
                clean.append(claim_id)
    return ScrubOutcome(clean=clean, held=held)


def claim_scrub(*, claim: Claim) -> list[Finding]:
    """Scrub one claim; returns its findings (empty: the claim is READY)."""
    outcome = claims_scrub(claim_ids=[claim.pk])
    claim.refresh_from_db(fields=["status"])
    return outcome.held.get(claim.pk, [])
