"""Twilio Voice: status callbacks and <Gather> results, mapped to call events.

Status callback parameters: https://www.twilio.com/docs/voice/api/call-resource#statuscallback
(CallSid, CallStatus, From, To, Direction, ParentCallSid, Timestamp, SequenceNumber).
The hub's TwiML puts an inbound call in a queue and rings the chosen agent with
``<Dial><Client>username</Client></Dial>``: the inbound (parent) leg reports the offer
and the end; the agent's (child) leg, whose To is ``client:username``, reports the
answer. A second child leg answered by another client is a transfer. A <Gather> whose
caller pressed the callback digit arrives as the action request with ``Digits``.
Signatures: https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from twilio.request_validator import RequestValidator

from scheduling.hubs import events as ev
from scheduling.hubs.events import CallEvent

PLATFORM = "twilio"
SIGNATURE_HEADER = "X-Twilio-Signature"
CALLBACK_DIGIT = "1"

ERR_NO_CALL_SID = "CallSid is missing"
ERR_BAD_TIMESTAMP = "Timestamp is not an RFC 2822 date with a zone"
ERR_BAD_SEQUENCE = "SequenceNumber is not a whole number"

OFFER_STATUSES = {"queued", "initiated", "ringing", "in-progress"}
UNANSWERED_STATUSES = {"busy", "failed", "no-answer", "canceled"}


class TwilioPayloadError(ValueError):
    """The request is signed but cannot be read; the message is one of the ERR_ constants."""


@dataclass(frozen=True)
class Mapped:
    event_id: str
    call_sid: str
    sequence: int | None
    event: CallEvent | None  # None: an event with no effect on the hub (a child ringing)


def signature_valid(
    *, auth_token: str, url: str, params: Mapping[str, str], signature: str
) -> bool:
    if not auth_token or not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, dict(params), signature))


def sign(*, auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """The X-Twilio-Signature Twilio would send (the sandbox signs its events with it)."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def _digits(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _at(params: Mapping[str, str], received_at: datetime) -> datetime:
    raw = params.get("Timestamp", "")
    if not raw:
        return received_at
    try:
        at = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        raise TwilioPayloadError(ERR_BAD_TIMESTAMP) from None
    if at.tzinfo is None:
        raise TwilioPayloadError(ERR_BAD_TIMESTAMP)
    return at


def map_request(params: Mapping[str, str], *, received_at: datetime) -> Mapped:
    sid = params.get("CallSid", "").strip()
    if not sid or len(sid) > 64:
        raise TwilioPayloadError(ERR_NO_CALL_SID)
    raw_seq = params.get("SequenceNumber", "")
    try:
        sequence = int(raw_seq) if raw_seq else None
    except ValueError:
        raise TwilioPayloadError(ERR_BAD_SEQUENCE) from None
    at = _at(params, received_at)
    status = params.get("CallStatus", "").lower()
    if "Digits" in params:
        digits = params["Digits"][:10]
        kind = ev.CALLBACK_REQUESTED if digits == CALLBACK_DIGIT else ""
        event = CallEvent(kind, sid, at) if kind else None
        return Mapped(f"{sid}:gather:{digits}", sid, None, event)
    event_id = f"{sid}:{sequence if sequence is not None else status}"
    parent = params.get("ParentCallSid", "").strip()
    if parent:
        to = params.get("To", "")
        agent = to.split(":", 1)[1] if to.startswith("client:") else ""
        if status == "in-progress" and agent:
            return Mapped(
                event_id, parent, sequence, CallEvent(ev.ANSWERED, parent, at, agent=agent)
            )
        return Mapped(event_id, parent, sequence, None)
    caller, dialed = _digits(params.get("From", "")), _digits(params.get("To", ""))
    if status in OFFER_STATUSES:
        kind = ev.OFFERED
    elif status == "completed":
        kind = ev.ENDED
    elif status in UNANSWERED_STATUSES:
        kind = ev.ABANDONED
    else:
        return Mapped(event_id, sid, sequence, None)
    return Mapped(event_id, sid, sequence, CallEvent(kind, sid, at, caller=caller, dialed=dialed))
