"""Duplicate, correction or reuse: what an inbound HL7 v2 message under a known MSH-10 is.

HL7 v2 (ch. 2, MSH-10 "message control ID", §2.9 acknowledgments) makes MSH-10 the sender's key
for one message, and a sender that heard nothing back resends it as it was. So, for a
message whose (sender, MSH-10) the ledger already holds:

- the same content again is a true duplicate: it gets the first answer again, byte for
  byte, and has no second effect (whatever that answer was: AA or AE);
- different content after we answered AE is the sender's correction of what we refused
  (the refusal told it what to fix): it is processed as a new message;
- different content after we answered AA reuses a control id for another message:
  answered AE (HL7 table 0357 code 205, duplicate key identifier) and kept for a person,
  never applied in place of what was accepted.

"Same content" ignores MSH-7 (date/time of message) and line endings, which engines
regenerate on a resend. This module is the one place that decides; the ledger asks it
for every batch, and the database's partial unique indexes
(``message_hl7_accepted_once``, ``message_hl7_content_once``) settle a race between two
listeners.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from enum import Enum

from .hl7v2.reader import split_segments
from .models import Message

ERR_CONTROL_ID_REUSED = (
    "MSH-10 was already accepted for a different message; send changes under a new control id"
)


class Seen(Enum):
    NEW = "new"  # nothing under this id, or only refusals of other content: a correction
    DUPLICATE = "duplicate"  # this very content was answered before
    REUSED = "reused"  # another message was accepted under this id


def content_hash(raw: str) -> str:
    """A digest of what the message says: MSH-7 blanked, segments joined by CR."""
    segments = split_segments(raw.lstrip("\ufeff"))
    if segments and segments[0].startswith("MSH") and len(segments[0]) > 3:
        fields = segments[0].split(segments[0][3])
        if len(fields) > 6:
            fields[6] = ""  # MSH-7 sits at index 6: MSH-1 is the separator itself
        segments[0] = segments[0][3].join(fields)
    text = "\r".join(s.rstrip() for s in segments)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def earlier_messages(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[Message]]:
    """The ledger's inbound HL7 v2 rows for these (sender, MSH-10) pairs, in one query."""
    pairs = {p for p in pairs if p[1]}
    found: dict[tuple[str, str], list[Message]] = {}
    if not pairs:
        return found
    # The filter restates the partial indexes' predicate (control_id <> '' included) so
    # PostgreSQL can answer it from message_hl7_content_once.
    rows = (
        Message.objects.filter(
            direction=Message.Direction.INBOUND,
            protocol=Message.Protocol.HL7V2,
            sender__in={s for s, _ in pairs},
            control_id__in={c for _, c in pairs},
        )
        .exclude(control_id="")
        .only("id", "sender", "control_id", "content_hash", "ack_raw", "ack_code")
    )
    for row in rows.order_by("id"):
        pair = (row.sender, row.control_id)
        if pair in pairs:
            found.setdefault(pair, []).append(row)
    return found


def _hash_of(row: Message) -> str:
    # Rows stored before content hashes existed are hashed from their raw text.
    if not row.content_hash:
        row.content_hash = content_hash(
            Message.objects.values_list("raw", flat=True).get(pk=row.pk)
        )
    return row.content_hash


def classify(digest: str, earlier: list[Message]) -> tuple[Seen, Message | None]:
    """What a message with this content hash is, given the rows stored under its id.
    Returns the earlier row to answer from for a duplicate."""
    for row in earlier:
        if _hash_of(row) == digest:
            return Seen.DUPLICATE, row
    if any(row.ack_code == "AA" for row in earlier):
        return Seen.REUSED, None
    return Seen.NEW, None
