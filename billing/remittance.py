"""835 posting: payments, adjustments and denials onto claims, matched by CLP01.

The clearinghouse side (``integrations/x12/``) files the 835 in the ledger and maps it
onto ``billing.types.RemittanceAdvice``; this module decides what posts.

Idempotent at two levels: the same file (same content hash, or the same interchange in
the ledger) posts nothing the second time, and a claim payment already posted from an
earlier file (same payer claim number, status and amount) is skipped and counted as
such. Lines matching no claim are kept in the unmatched queue (RemittanceClaim with no
claim). A malformed or unknown-payer 835 is filed in the ledger as rejected with its
reason and changes no balance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from .models import Adjustment, Claim, ClaimStatusHistory, Payer, Remittance, RemittanceClaim
from .types import AdjustmentData, ClaimPayment, RemittanceAdvice

ERR_UNKNOWN_PAYER = "The 835 comes from a payer the hub does not know ({payer})."
MSG_ALREADY_POSTED = "This 835 was already posted; nothing changed."

REVERSAL = "22"
DENIED = "4"


@dataclass
class PostResult:
    matched: int = 0
    posted: int = 0
    skipped: int = 0  # already posted
    unmatched: int = 0
    already_posted: bool = False
    error: str = ""
    message_id: int | None = None

    def summary(self) -> str:
        if self.error:
            return f"835 rejected: {self.error}"
        head = f"{MSG_ALREADY_POSTED} " if self.already_posted else ""
        return (
            f"{head}matched {self.matched}, posted {self.posted}, "
            f"skipped as already posted {self.skipped}, unmatched {self.unmatched}"
        )


def _payer_for(code: str, name: str) -> Payer | None:
    return (
        Payer.objects.filter(payer_code=code).first() if code else None
    ) or Payer.objects.filter(name__iexact=name).first()


def _new_status(cp: ClaimPayment, claim: Claim) -> str:
    if cp.status_code == REVERSAL:
        # The payer took its payment back; a corrected payment (or denial) follows.
        return Claim.Status.ACCEPTED
    if cp.status_code == DENIED or claim.paid_amount <= 0:
        return Claim.Status.DENIED
    if any(sv.paid == 0 and sv.charge > 0 for sv in cp.services):
        return Claim.Status.PARTIAL
    return Claim.Status.PAID


def remittance_content_hash(raw: str) -> str:
    """The file's identity for "already posted": a SHA-256 of its text."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def remittance_posted_claims(*, content_hash: str) -> int | None:
    """How many claim payments an earlier posting of this file matched; None if never posted."""
    if not Remittance.objects.filter(content_hash__startswith=content_hash[:60]).exists():
        return None
    return (
        RemittanceClaim.objects.filter(remittance__content_hash__startswith=content_hash[:60])
        .exclude(claim=None)
        .count()
    )


def remittance_advices_post(
    *, advices: Sequence[RemittanceAdvice], content_hash: str, message_id: int | None
) -> PostResult:
    """Post one 835's advices (filed as ledger row ``message_id``). Caller holds a transaction.

    An advice from a payer the hub does not know refuses the whole file: ``error`` is
    set and nothing is written.
    """
    result = PostResult(message_id=message_id)
    payers = [_payer_for(a.payer_code, a.payer_name) for a in advices]
    for advice, payer in zip(advices, payers, strict=True):
        if payer is None:
            result.error = ERR_UNKNOWN_PAYER.format(payer=advice.payer_code or advice.payer_name)
            return result
    now = timezone.now()
    for n, (advice, payer) in enumerate(zip(advices, payers, strict=True)):
        # One row per 835 transaction; the hash keeps the unique index per transaction.
        remittance = Remittance.objects.create(
            payer=payer,
            trace_number=advice.trace_number[:50],
            content_hash=content_hash[:60] + f"{n:04d}",
            total_paid=advice.total_paid,
            payment_date=advice.payment_date,
            received_at=now,
            message_id=message_id,
        )
        assert payer is not None  # unknown payers were refused above
        for cp in advice.claims:
            _post_claim(remittance, cp, payer, result)
    return result


def _already_posted(cp: ClaimPayment, claim: Claim) -> bool:
    """The same claim payment arriving again in another file (a re-sent 835).

    A payment stands until a reversal (CLP02=22, negated amount) takes it back, after
    which the payer may legitimately send the same payment again.
    """
    # One read of the claim's earlier postings instead of a count query per question.
    rows = list(
        RemittanceClaim.objects.filter(claim=claim).values_list("status_code", "paid", "charge")
    )
    reversals = sum(1 for code, paid, _ in rows if code == REVERSAL and paid == -cp.paid)
    if cp.status_code == REVERSAL:
        payments = sum(1 for code, paid, _ in rows if code != REVERSAL and paid == -cp.paid)
        reversals_of_this = sum(1 for code, paid, _ in rows if code == REVERSAL and paid == cp.paid)
        return reversals_of_this >= payments
    same = sum(
        1
        for code, paid, charge in rows
        if code == cp.status_code and paid == cp.paid and charge == cp.charge
    )
    return same > reversals


def _post_claim(remittance: Remittance, cp: ClaimPayment, payer: Payer, result: PostResult) -> None:
    claim = (
        Claim.objects.select_for_update().filter(claim_number=cp.clp01, payer=payer).first()
        or Claim.objects.select_for_update().filter(claim_number=cp.clp01).first()
    )
    if claim is not None:
        result.matched += 1
        if _already_posted(cp, claim):
            result.skipped += 1
            return
    rc = RemittanceClaim.objects.create(
        remittance=remittance,
        claim=claim,
        clp01=cp.clp01[:38],
        status_code=cp.status_code[:2],
        charge=cp.charge,
        paid=cp.paid,
        patient_responsibility=cp.patient_responsibility,
    )
    Adjustment.objects.bulk_create(_adjustments(rc, cp))
    if claim is None:
        # Kept with its adjustments, so a biller's later match posts the whole payment.
        result.unmatched += 1
        return
    claim.paid_amount += cp.paid
    claim.patient_responsibility += cp.patient_responsibility
    claim.adjudicated_at = timezone.now()
    if cp.payer_claim_number and cp.status_code != REVERSAL:
        claim.payer_claim_number = cp.payer_claim_number[:50]
    status = _new_status(cp, claim)
    note = (
        f"835 {remittance.trace_number}: reversal of {-cp.paid if cp.paid < 0 else cp.paid}"
        if cp.status_code == REVERSAL
        else f"835 {remittance.trace_number}: paid {cp.paid}"
    )
    claim.status = status
    claim.save(
        update_fields=[
            "paid_amount",
            "patient_responsibility",
            "adjudicated_at",
            "status",
            "payer_claim_number",
        ]
    )
    ClaimStatusHistory.objects.create(
        claim=claim, status=status, note=note[:200], at=timezone.now()
    )
    result.posted += 1


# CAS01 claim adjustment group codes (X12 835, loop 2100/2110 CAS) that are posted.
POSTED_GROUPS = frozenset({"CO", "PR", "OA", "PI", "CR"})


def _adjustments(rc: RemittanceClaim, cp: ClaimPayment) -> list[Adjustment]:
    claim_denied = cp.status_code == DENIED
    out = _adjustment_rows(
        rc, cp.adjustments, procedure_code="", remarks=cp.remarks, denied=claim_denied
    )
    for sv in cp.services:
        line_denied = claim_denied or (sv.paid == 0 and sv.charge > 0)
        out += _adjustment_rows(
            rc,
            sv.adjustments,
            procedure_code=sv.procedure_code[:10],
            remarks=sv.remarks,
            denied=line_denied,
        )
    return out


def _adjustment_rows(
    rc: RemittanceClaim,
    adjustments: Sequence[AdjustmentData],
    *,
    procedure_code: str,
    remarks: Sequence[str],
    denied: bool,
) -> list[Adjustment]:
    """Claim-level (no procedure code) or line-level adjustments, with the first remark.

    Patient responsibility (PR) is never a denial, even on a denied claim or line.
    """
    remark_code = (remarks[0] if remarks else "")[:6]
    return [
        Adjustment(
            remittance_claim=rc,
            procedure_code=procedure_code,
            group_code=a.group,
            reason_code=a.reason[:5],
            remark_code=remark_code,
            amount=a.amount,
            denied=denied and a.group != "PR",
        )
        for a in adjustments
        if a.group in POSTED_GROUPS
    ]


ERR_ALREADY_MATCHED = "This remittance line is already matched to a claim."
ERR_NO_SUCH_CLAIM = "No claim has that claim number."


@transaction.atomic
def remittance_claim_match(*, remittance_claim_id: int, claim_number: str) -> RemittanceClaim:
    """A biller matches an unmatched 835 line to a claim by hand; the payment posts now."""
    rc = RemittanceClaim.objects.select_for_update().get(pk=remittance_claim_id)
    if rc.claim_id is not None:
        raise ValueError(ERR_ALREADY_MATCHED)
    claim = Claim.objects.select_for_update().filter(claim_number=claim_number.strip()).first()
    if claim is None:
        raise ValueError(ERR_NO_SUCH_CLAIM)
    rc.claim = claim
    rc.save(update_fields=["claim"])
    claim.paid_amount += rc.paid
    claim.patient_responsibility += rc.patient_responsibility
    claim.adjudicated_at = timezone.now()
    if rc.status_code == REVERSAL:
        status = Claim.Status.ACCEPTED
    elif rc.status_code == DENIED or claim.paid_amount <= 0:
        status = Claim.Status.DENIED
    elif rc.adjustments.filter(denied=True).exists():
        status = Claim.Status.PARTIAL
    else:
        status = Claim.Status.PAID
    claim.status = status
    claim.save(update_fields=["paid_amount", "patient_responsibility", "adjudicated_at", "status"])
    ClaimStatusHistory.objects.create(
        claim=claim,
        status=status,
        note=f"835 line {rc.clp01} matched by hand: paid {rc.paid}"[:200],
        at=timezone.now(),
    )
    return rc


def claim_balance(claim: Claim) -> Decimal:
    """What is still owed by the payer: charge - paid - adjustments other than PR."""
    written_off = sum(
        (
            a.amount
            for rc in claim.remittances.all()
            for a in rc.adjustments.all()
            if a.group_code != "PR"
        ),
        Decimal("0"),
    )
    return claim.total_charge - claim.paid_amount - claim.patient_responsibility - written_off
