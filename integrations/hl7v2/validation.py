"""Every outbound SIU/ADT is checked by hl7apy against the HL7 v2.5.1 structure before it
leaves; a message that fails is never sent.

The hand-written reader (``hl7v2.reader``) stays on the hot inbound path; hl7apy is the
independent check on what the hub itself writes. STRICT validation catches a missing
required segment or group (SCH, PID, RGS in SIU_S12; PID, PV1 in ADT_A01), a missing
required field, a value over its maximum length and a malformed date or timestamp.
In STRICT mode hl7apy silently drops a segment the structure has no place for, so the
number of segments it kept is compared with the number written.
"""

from __future__ import annotations

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import (
    ChildNotFound,
    ChildNotValid,
    HL7apyException,
    MaxChildLimitReached,
    MaxLengthReached,
    ValidationError,
)
from hl7apy.parser import parse_message

from .reader import split_segments

ERR_INVALID = "outbound HL7 v2.5.1 validation failed"
ERR_DROPPED = "a segment does not belong to the message structure"
ERR_TOO_LONG = "a value is longer than its field allows (max {limit})"
ERR_MALFORMED = "a date, time or number is malformed"
ERR_UNREADABLE = "hl7apy could not parse the message"

# hl7apy's text for these names structure elements only (segments, groups, fields); the
# others quote the offending value, which is PHI here, so the reason is said without it.
_STRUCTURAL = (ValidationError, ChildNotFound, ChildNotValid, MaxChildLimitReached)


class OutboundInvalid(ValueError):
    """The message the hub built is not valid HL7 v2.5.1 for its structure (permanent:
    rebuilding it from the same rows gives the same message)."""


def _segments(element: object) -> int:
    total = 0
    for child in getattr(element, "children", ()):
        total += 1 if child.classname == "Segment" else _segments(child)
    return total


def _reason(exc: Exception) -> str:
    """What failed, in words that carry no value from the message (the ledger's error
    column is shown in admin and on the integration-health page)."""
    if isinstance(exc, _STRUCTURAL):
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MaxLengthReached):
        return f"MaxLengthReached: {ERR_TOO_LONG.format(limit=exc.limit)}"
    if isinstance(exc, HL7apyException):
        return f"{type(exc).__name__}: {ERR_UNREADABLE}"
    # hl7apy reports bad dates and numbers as plain ValueError.
    return ERR_MALFORMED


def outbound_validate(raw: str) -> None:
    """Raise ``OutboundInvalid`` (``ERR_INVALID``: hl7apy's reason) unless ``raw`` is a
    valid message of the structure its MSH-9 names."""
    try:
        message = parse_message(raw, validation_level=VALIDATION_LEVEL.STRICT)
        message.validate()
    except (HL7apyException, ValueError) as exc:
        raise OutboundInvalid(f"{ERR_INVALID}: {_reason(exc)}"[:480]) from None
    if _segments(message) != len(split_segments(raw)):
        raise OutboundInvalid(f"{ERR_INVALID}: {ERR_DROPPED}")
