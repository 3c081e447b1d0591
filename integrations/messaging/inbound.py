"""Texts and delivery receipts from the SMS provider, applied from the ledger.

The webhook stores each call in the ledger (protocol sms) before it answers; the inbound
machinery applies it like any other stored message (FIFO per phone, retries), through
``handle_sms`` here.
"""

from __future__ import annotations

import hashlib
import urllib.parse

from patients.selectors import patient_ids_by_phone
from scheduling.engagement.replies import reply_receive

from ..models import Connector, Message

TEXT = "SMS"
RECEIPT = "SMS receipt"
# Twilio's final failure states for an outbound text.
FAILED_STATES = frozenset({"failed", "undelivered"})


def phone_digits(e164: str) -> str:
    """A provider's +1XXXXXXXXXX as the hub stores phones (US numbers without the 1)."""
    digits = "".join(ch for ch in e164 if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def phone_ordering_key(e164: str) -> str:
    return hashlib.sha256(f"sms:{phone_digits(e164)}".encode()).hexdigest()[:32]


def handle_sms(message_type: str, raw: str, connector: Connector) -> str:
    """Apply one stored provider call. Returns a short non-PHI note for the ledger."""
    params = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
    if message_type == RECEIPT:
        status = params.get("MessageStatus", "")[:20]
        sid = params.get("MessageSid", "")
        sent = Message.objects.filter(
            direction=Message.Direction.OUTBOUND, external_ref=sid
        ).exclude(external_ref="")
        if status in FAILED_STATES:
            code = params.get("ErrorCode", "")[:10]
            sent.update(ack_code="ERR", last_error=f"provider reports {status} {code}".strip())
        else:
            sent.update(ack_code=status[:4].upper())
        return f"receipt {status}"
    digits = phone_digits(params.get("From", ""))
    intent = reply_receive(
        patient_ids=patient_ids_by_phone(digits), phone=digits, text=params.get("Body", "")
    )
    return f"reply {intent or 'to review'}"
