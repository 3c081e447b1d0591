"""Clean claims out as 837P batches, per payer, through that payer's clearinghouse.

Billing scrubs, numbers and marks the claims (``billing.submission``); this module
renders the 837P, sends it (or writes it to a directory), files it in the message
ledger and posts the clearinghouse's immediate answers (999, 277CA).
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

from billing.models import ClaimBatch
from billing.scrubber import Finding
from billing.submission import (
    ClaimRow,
    claim_batch_open,
    claims_lock_ready,
    claims_mark_submitted,
    claims_prepare,
)
from integrations.models import Connector

from .claims import VERSION as X222
from .claims import build_837p
from .clearinghouse import inbound_post
from .core import Envelope
from .files import write_private
from .ledger import x12_record_outbound
from .transport import InboundFile, TransportError, clearinghouse_for, transport_for

ERR_NO_CONNECTOR = "No enabled clearinghouse connector for payer {payer}; claims stay ready."


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
    batch = claim_batch_open(rows=rows, payer_id=payer_id)
    control = batch.interchange_control_number
    raw = build_837p(
        [r.data for r in rows],
        env=_envelope(control, settings.X12_RECEIVER_ID),
        reference=f"B{control}",
        submitter_name="CARE HUB",
        submitter_phone=settings.X12_SUBMITTER_PHONE,
    )
    return batch, raw


def claims_submit(
    *, out_dir: Path | None = None, claim_ids: Iterable[int] | None = None, batch_size: int = 5000
) -> SubmitResult:
    """Scrub pending claims, then write every clean one into per-payer 837P batches.

    With ``out_dir`` the files go to that directory (the ledger still records them);
    otherwise through each payer's clearinghouse connector, whose immediate answers
    (999, 277CA) are posted at once.
    """
    result = SubmitResult()
    prepared = claims_prepare(claim_ids=claim_ids)
    result.held = prepared.held
    by_payer: dict[int, list[ClaimRow]] = defaultdict(list)
    for row in prepared.rows:
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
        still_ready = claims_lock_ready(claim_ids=[r.claim_id for r in chunk])
        chunk = [r for r in chunk if r.claim_id in still_ready]
        if not chunk:
            return None
        batch, raw = build_batch(chunk, payer_id=payer_id)
        if out_dir is not None:
            # 0600: the operator carries these on; nobody else on the host reads PHI.
            write_private(out_dir, batch.file_name, raw)
            destination = str(out_dir / batch.file_name)
            answers: list[InboundFile] = []
        else:
            assert connector is not None
            answers = transport_for(connector).submit(name=batch.file_name, payload=raw)
            destination = f"{connector.name}:{batch.file_name}"
        message = x12_record_outbound(raw=raw, connector=connector)
        claims_mark_submitted(
            claims=still_ready, batch=batch, note=f"837P {batch.file_name}", message_id=message.pk
        )
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
