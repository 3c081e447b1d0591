"""Clean claims out as 837P batches; 999 and 277CA acknowledgements back in.

Batches are per payer (each payer's file goes through that payer's clearinghouse
connector). Control numbers come from ``control_number_next`` inside the batch's
transaction, so concurrent runs can never share an ISA13 and numbers only grow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

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
from .models import Claim, ClaimBatch, ClaimStatusHistory, Plan
from .scrubber import SCRUBBABLE, Finding, claims_scrub, claims_with_context
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


def claim_data(claim: Claim) -> ClaimData:
    """Map a claim (loaded with ``claims_with_context``) to the 837P's plain dataclass."""
    enc = claim.encounter
    cov = claim.coverage
    patient = enc.patient
    loc = enc.location
    patient_person = Person(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        sex=patient.sex,
        address=Address(patient.address_line, patient.city, patient.state, patient.zip_code)
        if patient.address_line
        else Address("UNKNOWN", loc.city or "UNKNOWN", loc.state or "CO", patient.zip_code),
    )
    is_self = cov.relationship == Coverage.Relationship.SELF
    subscriber = (
        Person(
            first_name=cov.subscriber_first_name or patient.first_name,
            last_name=cov.subscriber_last_name or patient.last_name,
            date_of_birth=cov.subscriber_dob or patient.date_of_birth,
            sex=patient.sex,
            address=patient_person.address,
        )
        if is_self
        else Person(
            first_name=cov.subscriber_first_name,
            last_name=cov.subscriber_last_name,
            date_of_birth=cov.subscriber_dob,
            sex="U",
        )
    )
    lines = tuple(
        ClaimLineData(
            procedure_code=c.procedure_code,
            modifiers=tuple(c.modifiers),
            amount=c.amount,
            units=c.units,
            pointers=tuple(int(p) for p in c.diagnosis_pointers),
            service_date=c.service_date,
        )
        for c in enc.charges.all()
    )
    return ClaimData(
        claim_number=claim.claim_number,
        total=sum((ln.amount for ln in lines), Decimal("0")),
        place_of_service="11",
        diagnoses=tuple(d.code for d in enc.diagnoses.all()),
        lines=lines,
        billing_provider=BillingProvider(
            name=loc.name,
            npi=loc.npi,
            tax_id=settings.X12_BILLING_TAX_ID,
            address=Address(
                loc.address_line or "UNKNOWN", loc.city or "UNKNOWN", loc.state, loc.zip_code
            ),
        ),
        rendering_first_name=enc.provider.first_name,
        rendering_last_name=enc.provider.last_name,
        rendering_npi=enc.provider.npi,
        member_id=cov.member_id,
        group_number=cov.group_number,
        relationship=cov.relationship,
        filing_indicator=FILING_INDICATOR.get(cov.plan.kind, "CI"),
        subscriber=subscriber,
        patient=patient_person,
        payer_name=claim.payer.name,
        payer_code=claim.payer.payer_code,
    )


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


def build_batch(claims: Sequence[Claim], *, payer_id: int) -> tuple[ClaimBatch, str]:
    """Number a batch and render its 837P. Caller holds a transaction."""
    control = control_number_next()
    raw = build_837p(
        [claim_data(c) for c in claims],
        env=_envelope(control, settings.X12_RECEIVER_ID),
        reference=f"B{control}",
        submitter_name="CARE HUB",
        submitter_phone=settings.X12_SUBMITTER_PHONE,
    )
    total = sum((c.total_charge for c in claims), Decimal("0"))
    batch = ClaimBatch.objects.create(
        interchange_control_number=control,
        group_control_number=control,
        created_at=timezone.now(),
        claim_count=len(claims),
        total_charge=total,
        payer_id=payer_id,
        file_name=f"837P_{control:09d}.x12",
    )
    return batch, raw


def _mark_submitted(claims: Sequence[Claim], batch: ClaimBatch, note: str) -> None:
    now = timezone.now()
    Claim.objects.filter(pk__in=[c.pk for c in claims]).update(
        status=Claim.Status.SUBMITTED, batch=batch, submitted_at=now
    )
    ClaimStatusHistory.objects.bulk_create(
        ClaimStatusHistory(claim_id=c.pk, status=Claim.Status.SUBMITTED, note=note[:200], at=now)
        for c in claims
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
    ready = list(
        claims_with_context()
        .filter(pk__in=outcome.clean, status=Claim.Status.READY)
        .order_by("payer_id", "encounter__location_id", "pk")
    )
    by_payer: dict[int, list[Claim]] = defaultdict(list)
    for claim in ready:
        by_payer[claim.payer_id].append(claim)
    for payer_id, claims in by_payer.items():
        connector = None if out_dir else clearinghouse_for(payer_id)
        if out_dir is None and connector is None:
            result.waiting += [c.claim_number for c in claims]
            result.errors.append(ERR_NO_CONNECTOR.format(payer=claims[0].payer.name))
            continue
        for start in range(0, len(claims), batch_size):
            chunk = claims[start : start + batch_size]
            try:
                written = _submit_chunk(
                    chunk, payer_id=payer_id, out_dir=out_dir, connector=connector
                )
            except TransportError as exc:
                result.errors.append(str(exc))
                continue
            result.written.append(written)
    return result


def _submit_chunk(
    chunk: list[Claim], *, payer_id: int, out_dir: Path | None, connector: Connector | None
) -> WrittenBatch:
    with transaction.atomic():
        # Lock the claims so a concurrent run cannot put them in a second batch.
        still_ready = set(
            Claim.objects.select_for_update()
            .filter(pk__in=[c.pk for c in chunk], status=Claim.Status.READY)
            .values_list("pk", flat=True)
        )
        chunk = [c for c in chunk if c.pk in still_ready]
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
        _mark_submitted(chunk, batch, f"837P {batch.file_name}")
    for answer in answers:
        inbound_post(raw=answer.payload, connector=connector)
    return WrittenBatch(
        batch_id=batch.pk,
        interchange_control_number=batch.interchange_control_number,
        payer=chunk[0].payer.name,
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
    for ack in functional:
        batch = ClaimBatch.objects.filter(group_control_number=int(ack.group_control or 0)).first()
        if batch is None:
            continue
        batch.ack_status = ack.code
        batch.save(update_fields=["ack_status"])
        result.batches += 1
        if ack.code == "R":
            for claim in batch.claims.select_for_update().filter(status=Claim.Status.SUBMITTED):
                _set(claim, Claim.Status.REJECTED, "999 rejected the batch")
                result.rejected += 1
    for ca in claim_acks:
        acked = (
            Claim.objects.select_for_update()
            .filter(claim_number=ca.claim_number, status=Claim.Status.SUBMITTED)
            .first()
        )
        if acked is None:
            continue
        if ca.accepted:
            _set(
                acked,
                Claim.Status.ACCEPTED,
                f"277CA {ca.category}:{ca.status} {ca.payer_claim_number}",
            )
            result.accepted += 1
        else:
            _set(acked, Claim.Status.REJECTED, f"277CA {ca.category}:{ca.status} rejected by payer")
            result.rejected += 1
    x12_mark(
        message, status=Message.Status.PROCESSED, ack_code=functional[0].code if functional else ""
    )
    return result


def _set(claim: Claim, status: str, note: str) -> None:
    claim.status = status
    claim.save(update_fields=["status"])
    ClaimStatusHistory.objects.create(
        claim=claim, status=status, note=note[:200], at=timezone.now()
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
