"""Clean claims out as 837P batches; 999 and 277CA acknowledgements back in.

Batches are per payer (each payer's file goes through that payer's clearinghouse
connector). Control numbers come from ``control_number_next`` inside the batch's
transaction, so concurrent runs can never share an ISA13 and numbers only grow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.audit import audit_updates
from config.fastsql import insert_rows
from integrations.models import Connector, Message
from integrations.x12.acks import parse_ack
from integrations.x12.claims import VERSION as X222
from integrations.x12.claims import build_837p
from integrations.x12.core import Envelope, X12Error, sniff_type
from integrations.x12.ledger import x12_mark, x12_record_inbound, x12_record_outbound
from integrations.x12.transport import InboundFile, TransportError, transport_for
from integrations.x12.types import Address, BillingProvider, ClaimData, ClaimLineData, Person
from patients.models import Coverage

from .eligibility import clearinghouse_for, eligibility_response_post
from .fastsql import update_rows
from .models import Charge, Claim, ClaimBatch, ClaimStatusHistory, Diagnosis, Plan
from .scrubber import SCRUBBABLE, Finding, claims_scrub
from .services import control_number_next

FILING_INDICATOR: dict[str, str] = {
    Plan.Kind.PPO: "12",
    Plan.Kind.HMO: "HM",
    Plan.Kind.EPO: "14",
    Plan.Kind.INDEMNITY: "CI",
    Plan.Kind.MEDICAID: "MC",
    Plan.Kind.MEDICARE: "MB",
}
ERR_NO_CONNECTOR = "No enabled clearinghouse connector for payer {payer}; claims stay ready."


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
class WrittenBatch:
    batch_id: int
    interchange_control_number: int
    payer: str
    claims: int
    total: Decimal
    destination: str


@dataclass
class SubmitResult:
    written: list[WrittenBatch] = field(default_factory=list)
    held: dict[str, list[Finding]] = field(default_factory=dict)  # claim number -> findings
    waiting: list[str] = field(default_factory=list)  # ready, but no connector
    errors: list[str] = field(default_factory=list)


def _envelope(control: int, receiver: str) -> Envelope:
    return Envelope(
        sender_id=settings.X12_SENDER_ID,
        receiver_id=receiver,
        interchange_control=control,
        group_control=control,
        functional_id="HC",
        version=X222,
        at=timezone.now(),
        usage=settings.X12_USAGE_INDICATOR,
    )


def build_batch(rows: Sequence[ClaimRow], *, payer_id: int) -> tuple[ClaimBatch, str]:
    """Number a batch and render its 837P. Caller holds a transaction."""
    control = control_number_next()
    raw = build_837p(
        [r.data for r in rows],
        env=_envelope(control, settings.X12_RECEIVER_ID),
        reference=f"B{control}",
        submitter_name="CARE HUB",
        submitter_phone=settings.X12_SUBMITTER_PHONE,
    )
    batch = ClaimBatch.objects.create(
        interchange_control_number=control,
        group_control_number=control,
        created_at=timezone.now(),
        claim_count=len(rows),
        total_charge=sum((r.total for r in rows), Decimal("0")),
        payer_id=payer_id,
        file_name=f"837P_{control:09d}.x12",
    )
    return batch, raw


def _mark_submitted(
    claims: Mapping[int, tuple[str, int | None, datetime | None]], batch: ClaimBatch, note: str
) -> None:
    """claims: pk -> (claim number, previous batch id, previous submitted_at), all READY."""
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


def claims_submit(
    *, out_dir: Path | None = None, claim_ids: Iterable[int] | None = None, batch_size: int = 5000
) -> SubmitResult:
    """Scrub pending claims, then write every clean one into per-payer 837P batches.

    With ``out_dir`` the files go to that directory (the ledger still records them);
    otherwise through each payer's clearinghouse connector, whose immediate answers
    (999, 277CA) are posted at once.
    """
    result = SubmitResult()
    pending = Claim.objects.filter(status__in=SCRUBBABLE)
    if claim_ids is not None:
        pending = pending.filter(pk__in=list(claim_ids))
    outcome = claims_scrub(claim_ids=pending.values_list("pk", flat=True))
    if outcome.held:
        numbers = dict(Claim.objects.filter(pk__in=outcome.held).values_list("pk", "claim_number"))
        result.held = {numbers[pk]: findings for pk, findings in outcome.held.items()}
    ready = load_claim_data(outcome.clean)
    by_payer: dict[int, list[ClaimRow]] = defaultdict(list)
    for row in ready:
        by_payer[row.payer_id].append(row)
    for payer_id, rows in by_payer.items():
        connector = None if out_dir else clearinghouse_for(payer_id)
        if out_dir is None and connector is None:
            result.waiting += [r.data.claim_number for r in rows]
            result.errors.append(ERR_NO_CONNECTOR.format(payer=rows[0].payer_name))
            continue
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            try:
                written = _submit_chunk(
                    chunk, payer_id=payer_id, out_dir=out_dir, connector=connector
                )
            except TransportError as exc:
                result.errors.append(str(exc))
                continue
            if written is not None:
                result.written.append(written)
    return result


def _submit_chunk(
    chunk: list[ClaimRow], *, payer_id: int, out_dir: Path | None, connector: Connector | None
) -> WrittenBatch | None:
    with transaction.atomic():
        # Lock the claims so a concurrent run cannot put them in a second batch.
        still_ready = {
            pk: (number, old_batch, old_at)
            for pk, number, old_batch, old_at in Claim.objects.select_for_update()
            .filter(pk__in=[r.claim_id for r in chunk], status=Claim.Status.READY)
            .values_list("pk", "claim_number", "batch_id", "submitted_at")
        }
        chunk = [r for r in chunk if r.claim_id in still_ready]
        if not chunk:
            return None
        batch, raw = build_batch(chunk, payer_id=payer_id)
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            temp = out_dir / f".{batch.file_name}.part"
            temp.write_text(raw, encoding="utf-8")
            temp.replace(out_dir / batch.file_name)
            destination = str(out_dir / batch.file_name)
            answers: list[InboundFile] = []
        else:
            assert connector is not None
            answers = transport_for(connector).submit(name=batch.file_name, payload=raw)
            destination = f"{connector.name}:{batch.file_name}"
        batch.message = x12_record_outbound(raw=raw, connector=connector)
        batch.save(update_fields=["message"])
        _mark_submitted(still_ready, batch, f"837P {batch.file_name}")
    for answer in answers:
        inbound_post(raw=answer.payload, connector=connector)
    return WrittenBatch(
        batch_id=batch.pk,
        interchange_control_number=batch.interchange_control_number,
        payer=chunk[0].payer_name,
        claims=len(chunk),
        total=batch.total_charge,
        destination=destination,
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


@transaction.atomic
def acknowledgement_post(*, raw: str, connector: Connector | None) -> AckResult:
    """Apply a 999 (to the batch) or a 277CA (to each claim)."""
    message, created = x12_record_inbound(raw=raw, connector=connector)
    result = AckResult()
    if not created and message.status != Message.Status.RECEIVED:
        result.duplicate = True
        return result
    try:
        functional, claim_acks = parse_ack(raw)
    except X12Error as exc:
        x12_mark(message, status=Message.Status.REJECTED, error=str(exc))
        result.error = str(exc)
        return result
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
    x12_mark(
        message, status=Message.Status.PROCESSED, ack_code=functional[0].code if functional else ""
    )
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


def inbound_post(*, raw: str, connector: Connector | None) -> str:
    """Route one inbound X12 by its type; returns a one-line summary for logs and commands."""
    kind = sniff_type(raw)
    if kind == "271":
        r = eligibility_response_post(raw=raw, connector=connector)
        return f"271: {r.updated} check(s) updated" + (f" ({r.error})" if r.error else "")
    if kind in {"999", "277"}:
        a = acknowledgement_post(raw=raw, connector=connector)
        return f"{kind}: {a.accepted} accepted, {a.rejected} rejected" + (
            f" ({a.error})" if a.error else ""
        )
    from .remittance import remittance_post

    p = remittance_post(raw=raw, connector=connector)
    return p.summary()


def clearinghouse_collect(*, connector: Connector) -> list[str]:
    """Pick up whatever the clearinghouse left in the inbox and post it. Idempotent."""
    transport = transport_for(connector)
    out = []
    for file in transport.collect():
        out.append(f"{file.name}: {inbound_post(raw=file.payload, connector=connector)}")
        transport.done(file)
    return out
