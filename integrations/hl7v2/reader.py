"""A fast, dependency-free reader for the parts of an HL7 v2 message the hot path needs.

hl7apy parses about 80 messages a second per core on this machine and its STRICT mode
drops segments it does not know; the listener must answer in well under a millisecond,
so it reads MSH (and, for the ordering key, the patient id) by splitting strings. Full
parsing for mapping uses python-hl7 (about 1,800 msg/s) in ``mapping.py``; hl7apy is
kept for building and validating what we emit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.crypto import blind_index

# HL7 v2 versions (MSH-12, table 0104) whose fields the hub reads the same way. From 2.7
# PID-13 is kept for backward compatibility beside PID-40 (both read, ``fields._phone``)
# and SCH-11 is withdrawn in favour of TQ1 (read first, ``siu``). 2.9 is refused: no
# independent validator here knows it, so the ACK we would answer in it is unchecked.
SUPPORTED_VERSIONS = frozenset(
    {"2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)
ERR_VERSION = "unsupported HL7 version {version}; accepted: 2.3 to 2.8.2"

# Message types the hub processes, with the segments each one cannot do without.
REQUIRED_SEGMENTS: dict[str, tuple[str, ...]] = {
    "ADT^A04": ("EVN", "PID"),
    "ADT^A08": ("EVN", "PID"),
    # Allergy update (ch. 3 §3.3.60): IAM segments for a known patient.
    "ADT^A60": ("EVN", "PID"),
    # Merges (ch. 3 §3.3.34-3.3.40): the hub merges patient records by identifier.
    "ADT^A34": ("EVN", "PID", "MRG"),
    "ADT^A36": ("EVN", "PID", "MRG"),
    "ADT^A39": ("EVN", "PID", "MRG"),
    "ADT^A40": ("EVN", "PID", "MRG"),
    "SIU^S12": ("SCH", "PID"),
    "SIU^S13": ("SCH", "PID"),
    "SIU^S14": ("SCH", "PID"),
    "SIU^S15": ("SCH", "PID"),
    "SIU^S26": ("SCH", "PID"),
    "DFT^P03": ("EVN", "PID", "FT1"),
}

# Merge events the hub does not perform, with what they would need that it lacks.
REFUSED_MERGES = {
    "ADT^A35": "A35 merges account numbers (MRG-3) only; send A40 with MRG-1 to merge patients",
    "ADT^A41": "A41 merges accounts (MRG-3); send A40 with MRG-1 to merge patients",
    "ADT^A42": "A42 merges visits (MRG-5); send A40 with MRG-1 to merge patients",
}

_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")


class HL7FormatError(ValueError):
    """The message is structurally unusable. ``code`` is from HL7 table 0357."""

    def __init__(
        self,
        reason: str,
        *,
        code: str = "100",
        segment: str = "MSH",
        field: int = 0,
        header: Header | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.segment = segment
        self.field = field
        # What MSH did say when another of its fields is wrong: the ACK still echoes the
        # real MSH-10 and answers in the sender's version (HL7 v2.5.1 ch. 2 §2.9).
        self.header = header


@dataclass(frozen=True)
class Header:
    """What MSH says about a message (fields by their HL7 numbers)."""

    field_sep: str
    encoding: str
    sending_application: str  # MSH-3.1
    sending_facility: str  # MSH-4.1
    receiving_application: str  # MSH-5.1
    receiving_facility: str  # MSH-6.1
    message_code: str  # MSH-9.1, e.g. ADT
    trigger_event: str  # MSH-9.2, e.g. A04
    control_id: str  # MSH-10, exactly as sent: MSA-2 echoes it byte for byte
    processing_id: str  # MSH-11
    version: str  # MSH-12.1

    @property
    def sender(self) -> str:
        return f"{self.sending_application}|{self.sending_facility}"

    @property
    def message_type(self) -> str:
        if not self.trigger_event:
            return self.message_code
        return f"{self.message_code}^{self.trigger_event}"

    @property
    def component_sep(self) -> str:
        return self.encoding[0] if self.encoding else "^"


def split_segments(raw: str) -> list[str]:
    """Segments are separated by CR; tolerate LF and CRLF from hand-made senders."""
    return [s for s in raw.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]


def _first(value: str, sep: str) -> str:
    return value.split(sep, 1)[0].strip()


def read_header(raw: str) -> Header:
    """Read MSH. Raises HL7FormatError saying what is wrong when it cannot be read; when
    MSH is readable but one of its fields is wrong the error carries what it did say."""
    if not raw.startswith("MSH") or len(raw) < 8:
        raise HL7FormatError("message does not start with an MSH segment", field=0)
    field_sep = raw[3]
    if field_sep.isalnum() or field_sep in "\r\n":
        raise HL7FormatError("MSH-1 field separator is missing", field=1)
    end = raw.find("\r")
    if end < 0:
        end = raw.find("\n")
    msh = raw if end < 0 else raw[:end]
    fields = msh.split(field_sep)
    # fields[0] is "MSH"; fields[1] is MSH-2 because MSH-1 is the separator itself.
    encoding = fields[1] if len(fields) > 1 else ""
    comp = encoding[0] if encoding and not encoding[0].isalnum() else "^"

    def field(number: int) -> str:
        index = number - 1
        return fields[index] if index < len(fields) else ""

    msg_type = field(9).split(comp)
    header = Header(
        field_sep=field_sep,
        encoding=encoding,
        sending_application=_first(field(3), comp),
        sending_facility=_first(field(4), comp),
        receiving_application=_first(field(5), comp),
        receiving_facility=_first(field(6), comp),
        message_code=msg_type[0].strip(),
        trigger_event=msg_type[1].strip() if len(msg_type) > 1 else "",
        control_id=field(10),
        processing_id=_first(field(11), comp),
        version=_first(field(12), comp),
    )
    # Only a non-empty MSH-10 is worth echoing; without one MSA-2 falls back to UNKNOWN.
    partial = header if header.control_id.strip() and len(header.control_id) <= 64 else None
    if len(encoding) < 3:
        raise HL7FormatError(
            "MSH-2 encoding characters are missing", code="101", field=2, header=partial
        )
    if len(fields) < 12:
        raise HL7FormatError(
            "MSH has fewer than 12 fields", code="101", field=len(fields) + 1, header=partial
        )
    if not header.message_code:
        raise HL7FormatError("MSH-9 message type is empty", code="101", field=9, header=partial)
    if not header.control_id.strip():
        raise HL7FormatError("MSH-10 message control id is empty", code="101", field=10)
    if len(header.control_id) > 64:
        raise HL7FormatError("MSH-10 message control id is longer than 64", code="102", field=10)
    if not header.version:
        raise HL7FormatError("MSH-12 version id is empty", code="101", field=12, header=partial)
    return header


def check_message(header: Header, raw: str) -> list[str]:
    """Validate what the listener must before it accepts: version, type, segment shape.

    Returns the segment list. Raises HL7FormatError with the HL7 error code and location.
    """
    if header.version not in SUPPORTED_VERSIONS:
        raise HL7FormatError(
            ERR_VERSION.format(version=header.version[:10]), code="203", field=12, header=header
        )
    required = REQUIRED_SEGMENTS.get(header.message_type)
    if header.message_type in REFUSED_MERGES:
        raise HL7FormatError(
            REFUSED_MERGES[header.message_type], code="201", field=9, header=header
        )
    if required is None:
        raise HL7FormatError(
            f"unsupported message type {header.message_type[:20]}",
            code="200",
            field=9,
            header=header,
        )
    segments = split_segments(raw)
    seen = set()
    for position, segment in enumerate(segments, start=1):
        seg_id = segment[:3]
        if not _SEGMENT_ID.match(seg_id) or (len(segment) > 3 and segment[3] != header.field_sep):
            raise HL7FormatError(
                f"segment {position} is not a valid HL7 segment",
                code="100",
                segment=seg_id[:3],
                header=header,
            )
        seen.add(seg_id)
    for seg_id in required:
        if seg_id not in seen:
            raise HL7FormatError(
                f"required segment {seg_id} is missing", code="100", segment=seg_id, header=header
            )
    if "MRG" in required:
        _check_merge(header, segments)
    return segments


ERR_MRG_PRIOR_MISSING = (
    "MRG-1 prior patient identifier list is empty (v2.3 senders may use MRG-4); "
    "the hub cannot tell which record to merge"
)


def _check_merge(header: Header, segments: list[str]) -> None:
    """Every MRG names the record that goes away (ch. 3 §3.4.9): MRG-1, or MRG-4 (prior
    patient ID, external) from senders of the v2.3 era. Refused at once with the field
    named, instead of accepted and then failing in the worker."""
    for segment in segments:
        if not segment.startswith("MRG"):
            continue
        fields = segment.split(header.field_sep)
        prior = [fields[i] if i < len(fields) else "" for i in (1, 4)]
        if not any(p.strip(header.encoding + " ") for p in prior):
            raise HL7FormatError(
                ERR_MRG_PRIOR_MISSING, code="101", segment="MRG", field=1, header=header
            )


def patient_key(header: Header, segments: list[str]) -> str:
    """The FIFO key: an opaque HMAC of the sender and its patient id (PID-3.1), never PHI."""
    pid = next((s for s in segments if s.startswith("PID")), "")
    fields = pid.split(header.field_sep)
    identifier = fields[3] if len(fields) > 3 else ""
    first_id = identifier.split(header.encoding[1] if len(header.encoding) > 1 else "~")[0]
    value = first_id.split(header.component_sep)[0].strip()
    if not value:
        return ""
    # Keyed (the blind-index key): a plain hash of a short MRN is reversed by trying them all.
    return blind_index("ordering", f"{header.sender}|{value}")


_UNESCAPES = (("\\F\\", "|"), ("\\S\\", "^"), ("\\T\\", "&"), ("\\R\\", "~"), ("\\E\\", "\\"))


def unescape(value: str) -> str:
    if "\\" not in value:
        return value
    for seq, char in _UNESCAPES:
        value = value.replace(seq, char)
    return value


class Segment:
    """One segment, addressed the way the standard numbers it: ``seg.get(3, 1, 4)``."""

    __slots__ = ("comp", "fields", "id", "reps", "sub")

    def __init__(self, text: str, fs: str, encoding: str) -> None:
        self.id = text[:3]
        self.comp = encoding[0]
        self.reps = encoding[1] if len(encoding) > 1 else "~"
        self.sub = encoding[3] if len(encoding) > 3 else "&"
        parts = text.split(fs)
        if self.id == "MSH":
            # MSH-1 is the separator itself, so MSH-n sits at parts[n - 1].
            parts = ["MSH", fs, *parts[1:]]
        self.fields = parts

    def field(self, number: int) -> str:
        return self.fields[number] if number < len(self.fields) else ""

    def repetitions(self, number: int) -> list[str]:
        value = self.field(number)
        return value.split(self.reps) if value else []

    def get(self, number: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        reps = self.repetitions(number)
        if len(reps) < rep:
            return ""
        comps = reps[rep - 1].split(self.comp)
        if len(comps) < component:
            return ""
        subs = comps[component - 1].split(self.sub)
        return unescape(subs[sub - 1]).strip() if len(subs) >= sub else ""

    @staticmethod
    def component_of(value: str, comp: str, component: int) -> str:
        parts = value.split(comp)
        return unescape(parts[component - 1]).strip() if len(parts) >= component else ""


class ParsedMessage:
    """The segments of a message, by id, in order; enough for the inbound mappings."""

    def __init__(self, raw: str) -> None:
        self.header = read_header(raw)
        fs, enc = self.header.field_sep, self.header.encoding
        self.segments = [Segment(s, fs, enc) for s in split_segments(raw)]

    def first(self, seg_id: str) -> Segment | None:
        return next((s for s in self.segments if s.id == seg_id), None)

    def all(self, seg_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == seg_id]

    def require(self, seg_id: str) -> Segment:
        seg = self.first(seg_id)
        if seg is None:
            raise HL7FormatError(f"required segment {seg_id} is missing", segment=seg_id)
        return seg
