"""What the clearinghouse sends back: 271, 999, 277CA and 835 files, filed then posted.

Every file goes in the message ledger first (a duplicate interchange gets its first row
back and has no second effect), is parsed onto ``billing.types`` dataclasses and handed
to billing's services; a file that does not parse is kept, marked rejected, with why.
"""

from __future__ import annotations

from django.db import transaction

from billing.remittance import (
    PostResult,
    remittance_advices_post,
    remittance_content_hash,
    remittance_posted_claims,
)
from billing.submission import AckResult, claims_acknowledge
from integrations.models import Connector, Message

from .acks import parse_ack
from .core import X12Error, sniff_type
from .inquiry import eligibility_response_post
from .ledger import x12_mark, x12_record_inbound
from .remittance import parse_835
from .transport import transport_for


@transaction.atomic
def acknowledgement_post(*, raw: str, connector: Connector | None) -> AckResult:
    """Apply a 999 (to the batch) or a 277CA (to each claim)."""
    message, created = x12_record_inbound(raw=raw, connector=connector)
    if not created and message.status != Message.Status.RECEIVED:
        return AckResult(duplicate=True)
    try:
        functional, claim_acks = parse_ack(raw)
    except X12Error as exc:
        x12_mark(message, status=Message.Status.REJECTED, error=str(exc))
        return AckResult(error=str(exc))
    result = claims_acknowledge(functional=functional, claim_acks=claim_acks)
    x12_mark(
        message, status=Message.Status.PROCESSED, ack_code=functional[0].code if functional else ""
    )
    return result


# An 835 refused earlier is posted again when it comes again (or is replayed): the
# refusal may have been the hub's (a payer not set up yet), not the file's.
REPOSTABLE = (Message.Status.RECEIVED, Message.Status.REJECTED)


@transaction.atomic
def remittance_post(*, raw: str, connector: Connector | None = None) -> PostResult:
    """File an 835 and post it; the same file twice posts nothing more. A file refused
    before is tried again (billing skips claim payments already posted, so a second run
    adds nothing that the first posted)."""
    message, created = x12_record_inbound(raw=raw, connector=connector)
    if not created:
        # Two deliveries or replays of one file at once: one posts, the other waits here.
        message = Message.objects.select_for_update().get(pk=message.pk)
    content_hash = remittance_content_hash(raw)
    earlier = remittance_posted_claims(content_hash=content_hash)
    if earlier is not None or message.status not in REPOSTABLE:
        return PostResult(message_id=message.pk, already_posted=True, skipped=earlier or 0)
    try:
        advices = parse_835(raw)
    except X12Error as exc:
        x12_mark(message, status=Message.Status.REJECTED, error=str(exc))
        return PostResult(message_id=message.pk, error=str(exc))
    result = remittance_advices_post(
        advices=advices, content_hash=content_hash, message_id=message.pk
    )
    if result.error:
        x12_mark(message, status=Message.Status.REJECTED, error=result.error)
    else:
        x12_mark(message, status=Message.Status.PROCESSED)
    return result


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
    return remittance_post(raw=raw, connector=connector).summary()


@transaction.atomic
def x12_message_replay(*, message_id: int) -> str:
    """Process again an inbound X12 row that admin replay put back to received: the same
    path as a new delivery of that file, which finds its row by content. Idempotent: a
    row no longer waiting (processed by an earlier run) is left alone."""
    message = (
        Message.objects.select_for_update()
        .filter(
            pk=message_id,
            direction=Message.Direction.INBOUND,
            protocol=Message.Protocol.X12,
            status=Message.Status.RECEIVED,
        )
        .first()
    )
    if message is None:
        return "nothing to replay"
    return inbound_post(raw=message.raw, connector=message.connector)


def x12_replays_due() -> list[int]:
    """Inbound X12 rows waiting to be processed again (their task may have been lost)."""
    return list(
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            protocol=Message.Protocol.X12,
            status=Message.Status.RECEIVED,
        )
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:100]
    )


def clearinghouse_collect(*, connector: Connector) -> list[str]:
    """Pick up whatever the clearinghouse left in the inbox and post it. Idempotent."""
    transport = transport_for(connector)
    out = []
    for file in transport.collect():
        out.append(f"{file.name}: {inbound_post(raw=file.payload, connector=connector)}")
        transport.done(file)
    return out
