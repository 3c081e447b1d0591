"""ACK messages (HL7 v2 chapter 2, "original acknowledgment mode").

Built as strings because the listener answers hundreds of messages a second; the
conformance tests validate every shape here with hl7apy STRICT for each version.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime

from config.inputs import CONTROL_CHARS

from .reader import SUPPORTED_VERSIONS, Header

HUB_APPLICATION = "CAREHUB"
HUB_FACILITY = "HUB"

AA = "AA"  # accepted
AE = "AE"  # error: the message is wrong, do not resend it as is
AR = "AR"  # reject: we could not take it now (database down), resend later

# Seq for our own control ids: process id + counter keeps them unique across listeners.
_counter = itertools.count(1)


def new_control_id(prefix: str = "A") -> str:
    return f"{prefix}{os.getpid():x}{datetime.now(UTC):%y%m%d%H%M%S}{next(_counter):06d}"


def hl7_timestamp(moment: datetime | None = None) -> str:
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%d%H%M%S") + "+0000"


def _hex_controls(text: str) -> str:
    """Control characters as HL7 hex escapes (v2.5 section 2.7.5, ``\\Xhh\\``, the
    character's UTF-8 bytes): a CR would end the segment (a name "Ann<CR>OBX|..." would
    forge a segment and push the PID's birth date and sex out of place), and a 0x1C
    followed by CR would end the MLLP frame in the middle of the message."""
    return CONTROL_CHARS.sub(lambda m: f"\\X{m.group().encode().hex().upper()}\\", text)


def _escape(text: str) -> str:
    """Escape HL7 delimiters (HL7 v2 section 2.7.4) and control characters in free text."""
    return _hex_controls(
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )


def echo(value: str, header: Header) -> str:
    """A value of the sender's MSH echoed into ours: as it came (it is already escaped
    in the sender's delimiters) when those are ours, re-escaped when they are not;
    control characters are always hex-escaped so the ACK stays one frame."""
    if header.field_sep == "|" and header.encoding[:4] == "^~\\&":
        return _hex_controls(value)
    return _escape(value)


# Versions (MSH-12) in which MSA-3 no longer exists.
_MSA_TEXT_WITHDRAWN = frozenset({"2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"})


def echo_control_id(header: Header | None) -> str:
    """MSA-2: the sender's MSH-10 byte for byte (HL7 v2.5.1 ch. 2, MSA segment; §2.9), so the
    sender's correlation never depends on how we trim. It is already escaped in the
    sender's delimiters; only when those differ from ours is it re-escaped. A message
    whose MSH-10 could not be read has no id to echo, and MSA-2 is required."""
    if header is None:
        return "UNKNOWN"
    return echo(header.control_id, header)


def build_ack(
    header: Header | None,
    code: str,
    *,
    error: str = "",
    error_code: str = "",
    segment: str = "MSH",
    field: int = 0,
    sending_application: str = HUB_APPLICATION,
    sending_facility: str = HUB_FACILITY,
) -> str:
    """The ACK for ``header`` (None when MSH itself could not be read).

    ``sending_application``/``sending_facility`` (MSH-3/4) are the hub by default; a
    system acknowledging a message *from* the hub (the sandbox PMS) passes its own, so
    the ACK says who answered and addresses the hub (MSH-5/6 echo the sender).

    The ACK is answered in the sender's version when we support it, else in 2.5.1, so
    a v2.3 system reads an ACK shaped the way its own version defines.
    """
    version = header.version if header and header.version in SUPPORTED_VERSIONS else "2.5.1"
    trigger = echo(header.trigger_event, header) if header else ""
    if version == "2.3":
        msg_type = f"ACK^{trigger}" if trigger else "ACK"
    else:
        msg_type = f"ACK^{trigger}^ACK" if trigger else "ACK^^ACK"
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            sending_application,
            sending_facility,
            echo(header.sending_application, header) if header else "",
            echo(header.sending_facility, header) if header else "",
            hl7_timestamp(),
            "",
            msg_type,
            new_control_id(),
            header.processing_id if header and header.processing_id in {"P", "T", "D"} else "P",
            version,
        ]
    )
    text = _escape(error[:80])
    # MSA-3 (text message) is withdrawn from 2.7 on; ERR carries the reason there.
    msa_text = f"|{text}" if text and version not in _MSA_TEXT_WITHDRAWN else ""
    msa = f"MSA|{code}|{echo_control_id(header)}{msa_text}"
    segments = [msh, msa]
    if error:
        err_code = error_code or ("207" if code == AR else "100")
        field_pos = str(field) if field else ""
        if version in {"2.3", "2.3.1", "2.4"}:
            # ERR-1 (CM_ELD): segment^sequence^field^code&text&table; required before 2.5.
            segments.append(f"ERR|{segment}^1^{field_pos}^{err_code}&{text}&HL70357")
        else:
            # 2.5: ERR-2 location (ERL), ERR-3 code (CWE), ERR-4 severity, ERR-8 message.
            location = f"{segment}^1^{field_pos}" if field_pos else f"{segment}^1"
            # ERR-3.2 (CWE text) holds 199 characters, ERR-8 (user message) 250: the
            # whole reason fits there even when MSA-3 (80) had to cut it.
            full = _escape(error[:199])
            segments.append(f"ERR||{location}|{err_code}^{full}^HL70357|E||||{full}")
    return "\r".join(segments) + "\r"


def ack_code(ack: str) -> str:
    """MSA-1 of an ACK we received ("" when there is none)."""
    for segment in ack.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split(segment[3] if len(segment) > 3 else "|")
            return parts[1].strip() if len(parts) > 1 else ""
    return ""
