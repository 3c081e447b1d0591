"""Field readers shared by the inbound HL7 v2 chapters (ADT, SIU, DFT).

Wire details (segment positions, HL7 tables) stay in ``integrations.hl7v2``; patients,
scheduling and billing receive dataclasses and keyword arguments. Every mapper and
handler raises ``MappingError`` for content the hub can never accept (the ledger row is
rejected, the rest of the patient's queue carries on) and lets database errors propagate
(transient: the row is retried with backoff).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from patients.mpi import PatientRecord, SourceIdentifier
from patients.phones import normalize_phone

from .reader import HL7FormatError, ParsedMessage, Segment

if TYPE_CHECKING:
    from integrations.models import Connector


class MappingError(ValueError):
    """The message is well formed but its content cannot be applied (permanent)."""


HUB_SYSTEM = "CAREHUB"  # our assigning authority in PID-3 (see hl7v2.outbound)
ERR_PID_NO_IDENTIFIER = "PID-3 carries no patient identifier"
ERR_BAD_DOB = "PID-7 date of birth is not a valid date"
ERR_HANDLER = "no handler for this message type"


def parse_hl7_date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except (ValueError, IndexError):
        raise MappingError(ERR_BAD_DOB) from None


def parse_hl7_datetime(value: str, tz: ZoneInfo) -> datetime | None:
    """HL7 DTM: YYYYMMDDHHMM[SS][+/-ZZZZ]; without an offset it is the location's wall time."""
    value = value.strip()
    if not value:
        return None
    offset = None
    for sign in ("+", "-"):
        if sign in value[8:]:
            cut = value.index(sign, 8)
            value, offset = value[:cut], value[cut:]
            break
    digits = value.split(".")[0]
    try:
        # Wall time first; the zone (offset or the location's) is attached below.
        naive = datetime(  # noqa: DTZ001
            int(digits[0:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10] or 0),
            int(digits[10:12] or 0),
            int(digits[12:14] or 0),
        )
    except ValueError:
        raise MappingError(f"invalid HL7 timestamp {value[:20]}") from None
    if offset:
        hours, minutes = int(offset[1:3]), int(offset[3:5] or 0)
        delta = (hours * 60 + minutes) * (1 if offset[0] == "+" else -1)
        return naive.replace(tzinfo=timezone(timedelta(minutes=delta))).astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


# Where a PID carries telecoms: PID-13 (home phone, kept for backward compatibility
# from v2.7) and PID-40 (patient telecommunication information, v2.7 and later).
TELECOM_FIELDS = (13, 40)


def _telecoms(pid: Segment) -> list[tuple[int, int]]:
    return [
        (field_no, rep)
        for field_no in TELECOM_FIELDS
        for rep in range(1, len(pid.repetitions(field_no)) + 1)
    ]


def _phone(pid: Segment) -> str:
    for field_no, rep in _telecoms(pid):
        use = pid.get(field_no, 2, rep=rep)
        if use == "NET":
            continue
        number = pid.get(field_no, 1, rep=rep)
        if not normalize_phone(number):
            number = pid.get(field_no, 6, rep=rep) + pid.get(field_no, 7, rep=rep)
        if number:
            return number
    return ""


def _email(pid: Segment) -> str:
    for field_no, rep in _telecoms(pid):
        if pid.get(field_no, 2, rep=rep) == "NET" or pid.get(field_no, 3, rep=rep) == "Internet":
            return pid.get(field_no, 4, rep=rep)[:254]
    return ""


def identifiers_from(
    pid: Segment, field_no: int, default_system: str
) -> tuple[SourceIdentifier, ...]:
    found = []
    for rep in range(1, len(pid.repetitions(field_no)) + 1):
        value = pid.get(field_no, 1, rep=rep)
        if not value:
            continue
        system = pid.get(field_no, 4, rep=rep) or default_system
        kind = pid.get(field_no, 5, rep=rep) or "MR"
        if kind not in {"MR", "PI", "PT"}:
            kind = "PT"
        found.append(SourceIdentifier(system=system[:60], value=value[:64], kind=kind))
    return tuple(found)


def patient_record(message: ParsedMessage, connector: Connector) -> PatientRecord:
    return patient_record_of(message.require("PID"), connector)


def patient_record_of(pid: Segment, connector: Connector) -> PatientRecord:
    """The PatientRecord one PID describes (a merge message carries one per patient)."""
    default_system = connector.identifier_system or connector.sending_application or "UNKNOWN"
    # PID-2 (patient ID, external) is where v2.3-era systems put the id; withdrawn in 2.7.
    identifiers = identifiers_from(pid, 3, default_system) or identifiers_from(
        pid, 2, default_system
    )
    hub_id = next(
        (int(i.value) for i in identifiers if i.system == HUB_SYSTEM and i.value.isdigit()), None
    )
    identifiers = tuple(i for i in identifiers if i.system != HUB_SYSTEM)
    if not identifiers and hub_id is None:
        raise MappingError(ERR_PID_NO_IDENTIFIER)
    language = pid.get(15, 1).lower()[:2]
    return PatientRecord(
        identifiers=identifiers,
        last_name=pid.get(5, 1)[:60],
        first_name=pid.get(5, 2)[:60],
        middle_name=pid.get(5, 3)[:60],
        date_of_birth=parse_hl7_date(pid.get(7, 1)),
        sex=pid.get(8, 1)[:1].upper(),
        phone=_phone(pid),
        email=_email(pid),
        address_line=pid.get(11, 1)[:200],
        city=pid.get(11, 3)[:80],
        state=pid.get(11, 4)[:2].upper(),
        zip_code=pid.get(11, 5)[:10],
        preferred_language=language if language.isalpha() else "",
        hub_id=hub_id,
    )


def parse_or_reject(raw: str) -> ParsedMessage:
    """The stored message, read; a structural fault is the content's (permanent)."""
    try:
        return ParsedMessage(raw)
    except HL7FormatError as exc:
        raise MappingError(exc.reason) from None
