"""The HL7 v2 batch protocol (v2.5.1 ch. 2 §2.10.3): FHS/BHS ... MSH ... BTS/FTS.

Backfills and file drops send many messages wrapped as a batch, in one MLLP frame or
one file::

    [FHS] { [BHS] { MSH ... } [BTS] } [FTS]

Each message inside is an ordinary message and is stored, answered and processed as
one. §2.10.3 lets the receiver acknowledge a batch with a batch of acknowledgments;
the hub answers every message (one ACK each, in order) inside the envelope the sender
used: BHS-12 / FHS-12 echo the sender's BHS-11 / FHS-11 so it can match the answer
to what it sent, and BTS-1 counts the ACKs. When the sender's BTS-1 count disagrees
with the messages found, BTS-2 of the answer says so (the file may be truncated); the
messages that did arrive are still answered one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .ack import (
    HUB_APPLICATION,
    HUB_FACILITY,
    _escape,
    _hex_controls,
    hl7_timestamp,
    new_control_id,
)
from .reader import split_segments

ENVELOPE = ("FHS", "BHS", "BTS", "FTS")
ERR_COUNT = "BTS-1 declared {declared} messages, {found} received"


@dataclass
class Batch:
    """One BHS..BTS (or the messages of a file with no BHS)."""

    header: list[str] = field(default_factory=list)  # BHS fields, [] without a BHS
    messages: list[str] = field(default_factory=list)
    declared: int | None = None  # BTS-1


@dataclass
class BatchFile:
    header: list[str] = field(default_factory=list)  # FHS fields, [] without an FHS
    batches: list[Batch] = field(default_factory=list)

    @property
    def messages(self) -> list[str]:
        return [m for b in self.batches for m in b.messages]


def is_batch(text: str) -> bool:
    return text.lstrip("\ufeff\r\n")[:3] in {"FHS", "BHS"}


def _fields(segment: str) -> list[str]:
    """Split FHS/BHS like MSH: element n is field n (FHS-1 is the separator itself)."""
    if len(segment) < 4:
        return [segment]
    sep = segment[3]
    return [segment[:3], sep, *segment[4:].split(sep)]


def _field(fields: list[str], number: int) -> str:
    return fields[number] if number < len(fields) else ""


def split_messages(text: str) -> list[str]:
    """Messages as a plain file holds them: each starts at an MSH segment."""
    messages: list[list[str]] = []
    for segment in split_segments(text.lstrip("\ufeff")):
        if segment.startswith("MSH") or not messages:
            messages.append([segment])
        else:
            messages[-1].append(segment)
    return ["\r".join(m) + "\r" for m in messages]


def parse_batch(text: str) -> BatchFile:
    """Split a batch or file into its messages, keeping the envelope's ids."""
    result = BatchFile()
    current: Batch | None = None
    message: list[str] = []

    def close_message() -> None:
        if message:
            assert current is not None
            current.messages.append("\r".join(message) + "\r")
            message.clear()

    for segment in split_segments(text.lstrip("\ufeff")):
        seg_id = segment[:3]
        if seg_id == "FHS":
            result.header = _fields(segment)
        elif seg_id == "BHS":
            close_message()
            current = Batch(header=_fields(segment))
            result.batches.append(current)
        elif seg_id in {"BTS", "FTS"}:
            close_message()
            if seg_id == "BTS" and current is not None:
                count = segment[4:].split(segment[3])[0] if len(segment) > 4 else ""
                current.declared = int(count) if count.strip().isdigit() else None
                current = None
        else:
            if seg_id == "MSH":
                close_message()
            if current is None:
                current = Batch()
                result.batches.append(current)
            message.append(segment)
    close_message()
    return result


def _envelope(kind: str, theirs: list[str]) -> str:
    """Our FHS/BHS answering theirs: the sender's ids echoed in field 12."""
    return "|".join(
        [
            kind,
            "^~\\&",
            HUB_APPLICATION,
            HUB_FACILITY,
            _hex_controls(_field(theirs, 3)),
            _hex_controls(_field(theirs, 4)),
            hl7_timestamp(),
            "",
            "",
            "",
            new_control_id("B"),
            _hex_controls(_field(theirs, 11)),
        ]
    )


def batch_ack(received: BatchFile, acks: list[str]) -> str:
    """The acknowledgment batch for ``received``: ``acks`` are the ACK messages of its
    messages, in order."""
    lines: list[str] = []
    if received.header:
        lines.append(_envelope("FHS", received.header))
    remaining = iter(acks)
    for batch in received.batches or [Batch()]:
        lines.append(_envelope("BHS", batch.header))
        for _ in batch.messages:
            lines.extend(split_segments(next(remaining)))
        found = len(batch.messages)
        comment = ""
        if batch.declared is not None and batch.declared != found:
            comment = _escape(ERR_COUNT.format(declared=batch.declared, found=found))
        lines.append(f"BTS|{found}" + (f"|{comment}" if comment else ""))
    if received.header:
        lines.append(f"FTS|{len(received.batches or [Batch()])}")
    return "\r".join(lines) + "\r"
