"""One attempt at one stored inbound message, and what its outcome does to the ledger row.

The HL7 v2 chapters (``integrations.hl7v2.adt``, ``.siu``, ``.dft``) and the FHIR inbound
mapper each own their handlers; this module picks the handler by message type and turns
an exception into the row's next state under the one retry policy
(``integrations.retry``): content the hub can never apply is rejected and the patient's
queue moves on; anything else is transient, retried with backoff, then dead-lettered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from config.logs import logging_message

from . import retry
from .fhir.inbound import handle as handle_fhir
from .hl7v2.adt import handle_adt_allergies, handle_adt_merge, handle_adt_upsert
from .hl7v2.dft import handle_dft
from .hl7v2.fields import ERR_HANDLER, MappingError, parse_or_reject
from .hl7v2.reader import ParsedMessage
from .hl7v2.siu import handle_siu
from .models import Connector, Message

logger = logging.getLogger(__name__)

Handler = Callable[[ParsedMessage, Connector], str]

# One handler per message kind, by MSH-9.
HL7_HANDLERS: dict[str, Handler] = {
    "ADT^A04": handle_adt_upsert,
    "ADT^A08": handle_adt_upsert,
    "ADT^A60": handle_adt_allergies,
    "ADT^A34": handle_adt_merge,
    "ADT^A36": handle_adt_merge,
    "ADT^A39": handle_adt_merge,
    "ADT^A40": handle_adt_merge,
    "SIU^S12": handle_siu,
    "SIU^S13": handle_siu,
    "SIU^S14": handle_siu,
    "SIU^S15": handle_siu,
    "SIU^S26": handle_siu,
    "DFT^P03": handle_dft,
}


def inbound_apply(message: Message) -> str:
    """Apply one stored message. Returns a short non-PHI note for the ledger."""
    assert message.connector is not None
    if message.protocol == Message.Protocol.HL7V2:
        parsed = parse_or_reject(message.raw)
        handler = HL7_HANDLERS.get(parsed.header.message_type)
        if handler is None:
            raise MappingError(ERR_HANDLER)
        return handler(parsed, message.connector)
    if message.protocol == Message.Protocol.FHIR:
        return handle_fhir(message.message_type, message.raw, message.connector)
    if message.protocol == Message.Protocol.SMS:
        from .messaging.inbound import handle_sms

        return handle_sms(message.message_type, message.raw, message.connector)
    raise ValueError(f"no inbound processing for protocol {message.protocol}")


def inbound_outcome(head: Message, now: datetime, note: str | None, exc: Exception | None) -> bool:
    """Set the row's new state after an attempt. Returns False when its key must stop."""
    if exc is None:
        head.status = Message.Status.PROCESSED
        with logging_message(head.pk):
            logger.debug("inbound %s processed", head.message_type)
        head.processed_at = now
        head.last_error = (note or "")[:500] if head.attempts else ""
        return True
    if isinstance(exc, (MappingError, ValueError)):
        # Content the hub can never apply (ValueError: a domain service refusing its
        # input). Retrying would not help; the patient's queue moves on.
        head.status = Message.Status.REJECTED
        # The reason can quote the message (a name that failed to map): ledger row only.
        with logging_message(head.pk):
            logger.info("inbound message #%s rejected: %s", head.pk, type(exc).__name__)
        head.last_error = str(exc)[:500]
        head.processed_at = now
        return True
    head.attempts += 1
    head.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
    logger.warning("inbound message #%s failed: %s", head.pk, type(exc).__name__)
    if retry.exhausted(head.attempts):
        head.status = Message.Status.DEAD
        return True
    head.status = Message.Status.FAILED
    head.next_attempt_at = now + retry.backoff(head.attempts)
    return False
