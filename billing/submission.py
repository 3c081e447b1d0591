"""Claims on their way out and back: the 837P's data, batches, and the status moves.

The clearinghouse side (``integrations/x12/``) renders and sends the 837P and reads the
999 and 277CA; billing scrubs, numbers the batch, loads the claim data as
``billing.types`` dataclasses and moves claims through their statuses. Control numbers
come from ``control_number_next`` inside the batch's transaction, so concurrent runs
can never share an ISA13 and numbers only grow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from config.audit import audit_updates
from config.fastsql import insert_rows, update_rows
from patients.models import Coverage

from .models import Charge, Claim, ClaimBatch, ClaimStatusHistory, Diagnosis, Plan
from .scrubber import SCRUBBABLE, Finding, claims_scrub
from .services import control_number_next
from .types import (
    Address,
    BillingProvider,
    ClaimAck,
    ClaimData,
    ClaimLineData,
    FunctionalAck,
    Person,
)

FILING_INDICATOR: dict[str, str] = {
    Plan.Kind.PPO: "12",
    Plan.Kind.HMO: "HM",
    Plan.Kind.EPO: "14",
    Plan.Kind.INDEMNITY: "CI",
    Plan.Kind.MEDICAID: "MC",
    Plan.Kind.MEDICARE: "MB",
}


_DATA_FIELDS = (
    "id",
    "claim_number",
    "payer_id",
    "payer__name",
    "payer__payer_code",
    "total_charge",
    "encounter_id",
    "encounter__patient__first_name",
    "encounter__patient__last_name",
    "encounter__patient__date_of_birth",
    "encounter__patient__sex",
    "encounter__patient__address_line",
    "encounter__patient__city",
    "encounter__patient__state",
    "encounter__patient__zip_code",
    "encounter__location__name",
    "encounter__location__npi",
    "encounter__location__address_line",
    "encounter__location__city",
    "encounter__location__state",
    "encounter__location__zip_code",
    "encounter__provider__first_name",
    "encounter__provider__last_name",
    "encounter__provider__npi",
    "coverage__member_id",
    "coverage__group_number",
    "coverage__relationship",
    "coverage__subscriber_first_name",
    "coverage__subscriber_last_name",
    "coverage__subscriber_dob",
    "coverage__plan__kind",
    "frequency_code",
    "payer_claim_number",
)


@dataclass(frozen=True)
class ClaimRow:
    claim_id: int
    payer_id: int
    payer_name: str
    total: Decimal
    data: ClaimData


def load_claim_data(claim_ids: Sequence[int]) -> list[ClaimRow]:
    """The 837P's plain dataclasses for claims, in three queries (values, not instances)."""
    out: list[ClaimRow] = []
    for start in range(0, len(claim_ids), 5000):
        ids = list(claim_ids[start : start + 5000])
        rows = list(
            Claim.objects.filter(pk__in=ids)
            .order_by("payer_id", "encounter__location_id", "pk")
            .values_list(*_DATA_FIELDS)
        )
        enc_ids = [r[6] for r in rows]
        lines: dict[int, list[ClaimLineData]] = defaultdict(list)
        for enc_id, code, mods, amount, units, pointers, day in (
            Charge.objects.filter(encounter_id__in=enc_ids)
            .order_by("encounter_id", "line_number")
            .values_list(
                "encounter_id",
                "procedure_code",
                "modifiers",
                "amount",
                "units",
                "diagnosis_pointers",
                "service_date",
            )
        ):
            lines[enc_id].append(
                ClaimLineData(
                    procedure_code=code,
                    modifiers=tuple(mods or ()),
                    amount=amount,
                    units=units,
                    pointers=tuple(int(p) for p in pointers or ()),
                    service_date=day,
                )
            )
        dxs: dict[int, list[str]] = defaultdict(list)
        for enc_id, code in (
            Diagnosis.objects.filter(encounter_id__in=enc_ids)
            .order_by("encounter_id", "sequence")
            .values_list("encounter_id", "code")
        ):
            dxs[enc_id].append(code)
        for r in rows:
            (pk, number, payer_id, payer_name, payer_code, total, enc_id, first, last, dob, sex,
             p_line, p_city, p_state, p_zip, loc_name, loc_npi, l_line, l_city, l_state, l_zip,
             r_first, r_last, r_npi, member_id, group, relationship, s_first, s_last, s_dob,
             plan_kind, frequency, payer_claim_number) = r  # fmt: skip
            address = (
                Address(p_line, p_city, p_state, p_zip)
                if p_line
                else Address("UNKNOWN", l_city or "UNKNOWN", l_state or "CO", p_zip or l_zip)
            )
            patient = Person(first, last, dob, sex, address)
            is_self = relationship == Coverage.Relationship.SELF
            subscriber = (
                Person(s_first or first, s_last or last, s_dob or dob, sex, address)
                if is_self
                else Person(s_first, s_last, s_dob, "U")
            )
            enc_lines = tuple(lines.get(enc_id, []))
            data = ClaimData(
                claim_number=number,
                total=sum((ln.amount for ln in enc_lines), Decimal("0")),
                place_of_service="11",
                diagnoses=tuple(dxs.get(enc_id, [])),
                lines=enc_lines,
                billing_provider=BillingProvider(
                    name=loc_name,
                    npi=loc_npi,
                    tax_id=settings.X12_BILLING_TAX_ID,
                    address=Address(l_line or "UNKNOWN", l_city or "UNKNOWN", l_state, l_zip),
                ),
                rendering_first_name=r_first,
                rendering_last_name=r_last,
                rendering_npi=r_npi,
                member_id=member_id,
                group_number=group,
                relationship=relationship,
                filing_indicator=FILING_INDICATOR.get(plan_kind, "CI"),
                subscriber=subscriber,
                patient=patient,
                payer_name=payer_name,
                payer_code=payer_code,
                frequency=frequency if payer_claim_number else "1",
                original_reference=payer_claim_number if frequency == "7" else "",
            )
            out.append(ClaimRow(pk, payer_id, payer_name, total, data))
    return out


@dataclass
class ClaimsPrepared:
    rows: list[ClaimRow]  # clean claims, ready for an 837P, ordered by payer
    held: dict[str, list[Finding]] = field(default_factory=dict)  # claim number -> findings


def claims_prepare(*, claim_ids: Iterable[int] | None = None) -> ClaimsPrepared:
    """Scrub pending claims (all, or these) and load the clean ones' 837P data."""
    pending = Claim.objects.filter(status__in=SCRUBBABLE)
    if claim_ids is not None:
        pending = pending.filter(pk__in=list(claim_ids))
    outcome = claims_scrub(claim_ids=pending.values_list("pk", flat=True))
    held = {}
    if outcome.held:
        numbers = dict(Claim.objects.filter(pk__in=outcome.held).values_list("pk", "claim_number"))
        held = {numbers[pk]: findings for pk, findings in outcome.held.items()}
    return ClaimsPrepared(rows=load_claim_data(outcome.clean), held=held)


ReadyClaims = dict[int, tuple[str, int | None, datetime | None]]


def claims_lock_ready(*, claim_ids: Sequence[int]) -> ReadyClaims:
    """Lock the claims still READY so a concurrent run cannot put them in a second batch.

    Caller holds a transaction. Returns pk -> (claim number, batch id, submitted_at).
    """
    return {
        pk: (number, old_batch, old_at)
        for pk, number, old_batch, old_at in Claim.objects.select_for_update()
        .filter(pk__in=list(claim_ids), status=Claim.Status.READY)
        .values_list("pk", "claim_number", "batch_id", "submitted_at")
    }


def claim_batch_open(*, rows: Sequence[ClaimRow], payer_id: int) -> ClaimBatch:
    """Number a batch (its ISA13 and GS06) for these claims. Caller holds a transaction."""
    control = control_number_next()
    return ClaimBatch.objects.create(
        interchange_control_number=control,
        group_control_number=control,
        created_at=timezone.now(),
        claim_count=len(rows),
        total_charge=sum((r.total for r in rows), Decimal("0")),
        payer_id=payer_id,
        file_name=f"837P_{control:09d}.x12",
    )


def claims_mark_submitted(
    *, claims: ReadyClaims, batch: ClaimBatch, note: str, message_id: int
) -> None:
    """The batch's file left (ledger row ``message_id``): its claims are SUBMITTED.

    claims: pk -> (claim number, previous batch id, previous submitted_at), all READY
    and locked by ``claims_lock_ready``.
    """
    batch.message_id = message_id
    batch.save(update_fields=["message"])
    now = timezone.now()
    Claim.objects.filter(pk__in=list(claims)).update(
        status=Claim.Status.SUBMITTED, batch=batch, submitted_at=now
    )
    insert_rows(
        ClaimStatusHistory,
        ["claim", "status", "note", "at"],
        ((pk, Claim.Status.SUBMITTED, note[:200], now) for pk in claims),
    )
    audit_updates(
        Claim,
        (
            (
                pk,
                number,
                {
                    "status": (Claim.Status.READY, Claim.Status.SUBMITTED),
                    "batch": (old_batch, batch.pk),
                    "submitted_at": (old_at, now),
                },
            )
            for pk, (number, old_batch, old_at) in claims.items()
        ),
    )


# ---------------------------------------------------------------------------
# Acknowledgements
# ---------------------------------------------------------------------------
@dataclass
class AckResult:
    batches: int = 0
    accepted: int = 0
    rejected: int = 0
    error: str = ""
    duplicate: bool = False


def claims_acknowledge(
    *, functional: Sequence[FunctionalAck], claim_acks: Sequence[ClaimAck]
) -> AckResult:
    """Apply a 999 (to the batch) or a 277CA (to each claim). Caller holds a transaction."""
    result = AckResult()
    # (claim, new status, history note, payer claim number): applied in bulk below; a
    # 277CA answers every claim of a batch, one save per claim made it N+1.
    moves: list[tuple[Claim, str, str, str]] = []
    for ack in functional:
        batch = ClaimBatch.objects.filter(group_control_number=int(ack.group_control or 0)).first()
        if batch is None:
            continue
        batch.ack_status = ack.code
        batch.save(update_fields=["ack_status"])
        result.batches += 1
        if ack.code == "R":
            for claim in batch.claims.select_for_update().filter(status=Claim.Status.SUBMITTED):
                moves.append(
                    (
                        claim,
                        Claim.Status.REJECTED,
                        "999 rejected the batch",
                        claim.payer_claim_number,
                    )
                )
                result.rejected += 1
    submitted = {
        c.claim_number: c
        for c in Claim.objects.select_for_update()
        .filter(
            claim_number__in={ca.claim_number for ca in claim_acks},
            status=Claim.Status.SUBMITTED,
        )
        .exclude(pk__in=[c.pk for c, *_ in moves])
    }
    for ca in claim_acks:
        acked = submitted.pop(ca.claim_number, None)  # a claim moves once per file
        if acked is None:
            continue
        if ca.accepted:
            note = f"277CA {ca.category}:{ca.status} {ca.payer_claim_number}"
            number = ca.payer_claim_number[:50] or acked.payer_claim_number
            moves.append((acked, Claim.Status.ACCEPTED, note, number))
            result.accepted += 1
        else:
            note = f"277CA {ca.category}:{ca.status} rejected by payer"
            moves.append((acked, Claim.Status.REJECTED, note, acked.payer_claim_number))
            result.rejected += 1
    _claims_move(moves)
    return result


def _claims_move(moves: list[tuple[Claim, str, str, str]]) -> None:
    """Claim status moves with their history and audit entries, one executemany each."""
    now = timezone.now()
    update_rows(
        Claim,
        ["status", "payer_claim_number"],
        ((claim.pk, [status, number]) for claim, status, _, number in moves),
    )
    insert_rows(
        ClaimStatusHistory,
        ["claim", "status", "note", "at"],
        ((claim.pk, status, note[:200], now) for claim, status, note, _ in moves),
    )
    audit_updates(
        Claim,
        (
            (
                claim.pk,
                str(claim),
                {
                    "status": (claim.status, status),
                    "payer_claim_number": (claim.payer_claim_number, number),
                },
            )
            for claim, status, _, number in moves
        ),
    )
