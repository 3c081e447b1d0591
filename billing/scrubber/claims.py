"""The scrub pass: load claim contexts in bulk, run the rules, record the results.

``claim_scrub`` loads one claim's context and records the result; ``claims_scrub`` does
the same for many claims with a fixed number of queries (the 10,000-claim benchmark
depends on it). The rules themselves are in ``rules``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.audit import audit_updates
from config.fastsql import insert_rows

from ..models import (
    Charge,
    Claim,
    ClaimFinding,
    ClaimStatusHistory,
    Diagnosis,
    DiagnosisProcedureRule,
    DocumentationAttestation,
)
from .rules import SCRUBBABLE, STANDING, ClaimContext, Finding, LineContext, ScrubSettings, scrub


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
    "encounter__ehr_documented_at",
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
    """Contexts for claims, in six queries whatever their number; also their statuses.

    Reads plain values rather than model instances: instantiating half a million rows
    is what made the first version too slow for a 10,000-claim run.
    """
    rows = list(
        Claim.objects.filter(pk__in=list(claim_ids)).order_by("pk").values_list(*_CLAIM_FIELDS)
    )
    if not rows:
        return [], {}
    enc_ids = [r[3] for r in rows]
    attested = set(
        DocumentationAttestation.objects.filter(claim_id__in=[r[0] for r in rows]).values_list(
            "claim_id", flat=True
        )
    )
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
         sub_last, sub_dob, payer_code, payer_active, ehr_documented_at) = r  # fmt: skip
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
                ehr_documented=ehr_documented_at is not None,
                documentation_attested=pk in attested,
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
