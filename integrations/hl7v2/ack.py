"""ACK messages (HL7 v2 chapter 2, "original acknowledgment mode").

Built as strings because the listener answers hundreds of messages a second; the
conformance tests validate every shape here with hl7apy STRICT for each version.
"""

from __future__ import annotations

import itertools
import os
import re
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


def _hex_escape(match: re.Match[str]) -> str:
    return f"\\X{match.group().encode().hex().upper()}\\"


def _escape(text: str) -> str:
    """Escape HL7 delimiters in free text (HL7 v2.5 section 2.7.4), and every control
    character as hexadecimal data (section 2.7.5: CR is \\X0D\\). A raw CR ends the
    segment, so a name such as "Ann<CR>OBX|1|TX|||..." would otherwise forge a segment
    of its own and push the rest of the PID (birth date, sex) out of place."""
    escaped = (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )
    return CONTROL_CHARS.sub(_hex_escape, escaped)


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
    trigger = header.trigger_event if header else ""
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
            header.sending_application if header else "",
            header.sending_facility if header else "",
            hl7_timestamp(),
            "",
            msg_type,
            new_control_id(),
            header.processing_id if header and header.processing_id in {"P", "T", "D"} else "P",
            version,
        ]
    )
    # MSA-2 is required; a message whose MSH could not be read has no id to echo.
    control_id = header.control_id if header else "UNKNOWN"
    text = _escape(error[:80])
    msa = f"MSA|{code}|{_escape(control_id)}" + (f"|{text}" if text else "")
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
            segments.append(f"ERR||{location}|{err_code}^{text}^HL70357|E||||{text}")
    return "\r".join(segments) + "\r"


def ack_code(ack: str) -> str:
    """MSA-1 of an ACK we received ("" when there is none)."""
    for segment in ack.replace("\n", "\r").split("\r"):
        if segment.startswith("MSA"):
            parts = segment.split(segment[3] if len(segment) > 3 else "|")
            return parts[1].strip() if len(parts) > 1 else ""
    return ""
