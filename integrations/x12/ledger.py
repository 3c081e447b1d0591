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


def x12_record_inbound(*, raw: str, connector: Connector | None) -> tuple[Message, bool]:
    """File an inbound X12; returns (message, created).

    The same interchange (sender, ISA13) arriving twice is one ledger row: the second
    delivery gets the first row back with created False, so it has no second effect.
    A file with no readable ISA is still filed (under an empty control id) so nothing
    received is ever lost.
    """
    sender, control = envelope_ids(raw)
    if control:
        existing = Message.objects.filter(
            direction=Message.Direction.INBOUND, sender=sender, control_id=control
        ).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            message = Message.objects.create(
                connector=connector,
                direction=Message.Direction.INBOUND,
                **_file_fields(raw, sender, control),
                status=Message.Status.RECEIVED,
                received_at=timezone.now(),
            )
    except IntegrityError:
        # Two pickups racing on the same file: the database's dedupe index decides.
        return Message.objects.get(
            direction=Message.Direction.INBOUND, sender=sender, control_id=control
        ), False
    return message, True


def x12_mark(message: Message, *, status: str, error: str = "", ack_code: str = "") -> None:
    message.status = status
    message.last_error = error
    message.processed_at = timezone.now()
    if ack_code:
        message.ack_code = ack_code
    message.save(update_fields=["status", "last_error", "processed_at", "ack_code"])
