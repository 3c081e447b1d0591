"""Every X12 file in or out goes in the message ledger (integrations.Message, protocol x12)."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations.models import Connector, Message

from .core import sniff_type

_ISA = re.compile(r"^\s*ISA(.)")


def envelope_ids(raw: str) -> tuple[str, str]:
    """(ISA06 sender, ISA13 control) read leniently: a malformed file still gets filed."""
    match = _ISA.match(raw)
    if not match:
        return "", ""
    parts = raw.lstrip()[:106].split(match.group(1))
    if len(parts) < 14:
        return "", ""
    return parts[6].strip()[:130], parts[13].strip()[:64]


def _file_fields(raw: str, sender: str, control: str) -> dict[str, str]:
    """What a ledger row says about the file itself, whichever way it went."""
    return {
        "protocol": Message.Protocol.X12,
        "message_type": sniff_type(raw),
        "sender": sender,
        "control_id": control,
        "raw": raw,
        "sha256": Message.hash_raw(raw),
    }


def x12_record_outbound(
    *, raw: str, connector: Connector | None, status: str = Message.Status.SENT, error: str = ""
) -> Message:
    sender, control = envelope_ids(raw)
    now = timezone.now()
    return Message.objects.create(
        connector=connector,
        direction=Message.Direction.OUTBOUND,
        **_file_fields(raw, sender, control),
        status=status,
        attempts=1,
        last_error=error,
        received_at=now,
        processed_at=now if status == Message.Status.SENT else None,
    )


REVIEW_CONTROL_REUSED = (
    "ISA13 {control} from {sender} also came with message #{other}, a different {kind} "
    "file: both were processed; confirm with the sender that neither repeats the other."
)


def x12_record_inbound(*, raw: str, connector: Connector | None) -> tuple[Message, bool]:
    """File an inbound X12; returns (message, created).

    A duplicate is the same content of the same transaction type (SHA-256 of the file
    plus its ST01): it gets the first row back with created False, so it has no second
    effect. The envelope alone does not decide: X12.5 wants ISA13 unique per sender, yet
    real senders reuse it (a counter that wraps, one sequence for 271s and 835s), and a
    different file under a used number is a different file. It is filed and processed,
    and when an earlier file of the same type had that number, the row says so in
    ``review_reason`` for a person (admin, integration health). A file with no readable
    ISA is still filed (under an empty control id) so nothing received is ever lost.
    """
    sender, control = envelope_ids(raw)
    fields = _file_fields(raw, sender, control)
    same_file = Message.objects.filter(
        direction=Message.Direction.INBOUND,
        protocol=Message.Protocol.X12,
        message_type=fields["message_type"],
        sha256=fields["sha256"],
    )
    existing = same_file.first()
    if existing is not None:
        return existing, False
    reused = (
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            protocol=Message.Protocol.X12,
            message_type=fields["message_type"],
            sender=sender,
            control_id=control,
        )
        .order_by("pk")
        .first()
        if control
        else None
    )
    review = (
        REVIEW_CONTROL_REUSED.format(
            control=control, sender=sender, other=reused.pk, kind=fields["message_type"] or "X12"
        )
        if reused is not None
        else ""
    )
    try:
        with transaction.atomic():
            message = Message.objects.create(
                connector=connector,
                direction=Message.Direction.INBOUND,
                **fields,
                status=Message.Status.RECEIVED,
                received_at=timezone.now(),
                review_reason=review[:300],
            )
    except IntegrityError:
        # Two pickups racing on the same file: the database's dedupe index decides.
        return same_file.get(), False
    return message, True


def x12_mark(message: Message, *, status: str, error: str = "", ack_code: str = "") -> None:
    message.status = status
    message.last_error = error
    message.processed_at = timezone.now()
    if ack_code:
        message.ack_code = ack_code
    message.save(update_fields=["status", "last_error", "processed_at", "ack_code"])
