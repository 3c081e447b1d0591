"""Clinical facts carried in HL7 v2 ADT messages: AL1 and IAM allergies, OBX observations
that the need rules know, and the sender's own Z-segments as configured in admin.

- AL1 (v2.5.1 ch. 3 §3.4.6): AL1-3 allergen (CE code^text^system), AL1-6 identification
  date. An ADT carries the allergies the sender knows; each is recorded active.
- IAM (§3.4.7, ADT^A60 and others): IAM-6 action code (table 0206: A add, U update,
  D delete, X no change) and IAM-17 clinical status (table 0438: I inactive,
  E erroneous). A delete or an inactive/erroneous status withdraws the allergy, whether
  an AL1 or an IAM recorded it (both key it by its allergen code).
- OBX (ch. 7 §7.4.2): OBX-3 observation, OBX-5 value, OBX-11 result status (table 0085:
  D delete and W wrong withdraw). Only observations a need rule names are recorded
  (mobility "wheelchair", sedation required); heights and weights are not facts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from django.db.models import Q
from django.utils import timezone

from patients.clinical import ClinicalFactRecord, clinical_fact_record, clinical_fact_withdraw
from patients.selectors import clinical_fact_on_file, clinical_need_codes

from .fields import MappingError, parse_hl7_datetime
from .reader import ParsedMessage, Segment

if TYPE_CHECKING:
    from integrations.models import ClinicalSegmentMap, Connector
    from patients.models import Patient

ACTIVE, INACTIVE, IN_ERROR = "active", "inactive", "entered_in_error"
SEGMENTS = ("AL1", "IAM", "OBX")
IAM_WITHDRAWN = {"I": INACTIVE, "E": IN_ERROR}
OBX_WITHDRAWN = {"D": INACTIVE, "W": IN_ERROR}
# OBX-5 answers that say the observed need is absent ("uses a wheelchair: N").
NEGATIVE_ANSWERS = {"N", "NO", "FALSE", "0", "NEGATIVE", "ABSENT"}


@dataclass(frozen=True)
class FactChange:
    record: ClinicalFactRecord
    withdraw: bool  # True: only stop the record the hub holds, if any


def may_carry_facts(raw: str, connector: Connector) -> bool:
    """A cheap look before parsing: most ADT messages carry none of these segments."""
    if any(f"\r{seg}|" in raw or f"\n{seg}|" in raw for seg in SEGMENTS):
        return True
    # The configured Z-segments are read only when the message has a Z-segment at all.
    if "\rZ" not in raw and "\nZ" not in raw:
        return False
    return any(f"{m.segment}|" in raw for m in _segment_maps(connector))


def _segment_maps(connector: Connector) -> list[ClinicalSegmentMap]:
    from integrations.models import ClinicalSegmentMap

    return list(
        ClinicalSegmentMap.objects.filter(Q(connector=connector) | Q(connector__isnull=True))
    )


def _zone(connector: Connector) -> ZoneInfo:
    location = connector.location
    return ZoneInfo(location.time_zone) if location is not None else ZoneInfo("UTC")


def _moment(value: str, tz: ZoneInfo, fallback: datetime) -> datetime:
    value = value.strip()
    if len(value) == 8:  # a date alone (DT): the start of that day at the location
        value += "0000"
    try:
        return parse_hl7_datetime(value, tz) or fallback
    except MappingError:
        return fallback


def _coded(seg: Segment, field: int) -> tuple[str, str, str]:
    """(code, text, system) of a CE/CWE field."""
    return seg.get(field, 1)[:40], seg.get(field, 2)[:200], seg.get(field, 3)[:200]


class _Reader:
    def __init__(self, message: ParsedMessage, connector: Connector) -> None:
        self.connector = connector
        self.tz = _zone(connector)
        msh = message.first("MSH")
        self.sent_at = _moment(msh.get(7) if msh else "", self.tz, timezone.now())
        self.source = (connector.sending_application or connector.name)[:60]

    def fact(
        self, *, record_id: str, kind: str, coded: tuple[str, str, str], status: str, when: str = ""
    ) -> ClinicalFactRecord:
        code, text, system = coded
        return ClinicalFactRecord(
            source_system=self.source,
            record_id=record_id,
            kind=kind,
            code=code,
            code_system=system,
            description=text or code,
            status=status,
            recorded_at=_moment(when, self.tz, self.sent_at) if when else self.sent_at,
            origin_connector_id=self.connector.pk,
            source_location_id=self.connector.location_id,
        )


def _allergy_id(coded: tuple[str, str, str]) -> str:
    code, text, system = coded
    return f"allergy/{system}/{code}" if code else f"allergy/text/{text.lower()}"


def changes_of(message: ParsedMessage, connector: Connector, patient: Patient) -> list[FactChange]:
    """Every fact the message states about ``patient``, in segment order."""
    reader = _Reader(message, connector)
    maps = {m.segment: m for m in _segment_maps(connector)}
    rule_codes: set[str] | None = None
    changes: list[FactChange] = []
    for seg in message.segments:
        if seg.id == "AL1":
            coded = _coded(seg, 3)
            if not (coded[0] or coded[1]):
                continue
            fact = reader.fact(
                record_id=_allergy_id(coded),
                kind="allergy",
                coded=coded,
                status=ACTIVE,
                when=seg.get(6),
            )
            changes.append(FactChange(fact, withdraw=False))
        elif seg.id == "IAM":
            coded = _coded(seg, 3)
            if not (coded[0] or coded[1]):
                continue
            status = IAM_WITHDRAWN.get(seg.get(17, 1).upper(), ACTIVE)
            if seg.get(6, 1).upper() == "D":
                status = INACTIVE
            fact = reader.fact(
                record_id=_allergy_id(coded),
                kind="allergy",
                coded=coded,
                status=status,
                when=seg.get(13),
            )
            changes.append(FactChange(fact, withdraw=status != ACTIVE))
        elif seg.id == "OBX":
            if rule_codes is None:
                rule_codes = clinical_need_codes()
            change = _observation(seg, reader, rule_codes, patient)
            if change is not None:
                changes.append(change)
        elif seg.id in maps:
            changes += _z_segment(seg, maps[seg.id], reader)
    return changes


def _observation(
    seg: Segment, reader: _Reader, rule_codes: set[str], patient: Patient
) -> FactChange | None:
    observed = _coded(seg, 3)
    if not observed[0]:
        return None
    record_id = f"OBX/{observed[2]}/{observed[0]}"
    value_type = seg.get(2, 1).upper()
    value = _coded(seg, 5) if value_type in {"CE", "CWE", "CNE"} else ("", seg.get(5, 1), "")
    status = OBX_WITHDRAWN.get(seg.get(11, 1).upper(), ACTIVE)
    if value[0] in rule_codes:
        coded = value
    elif observed[0] in rule_codes:
        coded = (observed[0], value[1] or observed[1], observed[2])
        if status == ACTIVE and (value[0] or value[1]).upper() in NEGATIVE_ANSWERS:
            status = INACTIVE
    elif clinical_fact_on_file(patient=patient, source_system=reader.source, record_id=record_id):
        # The observation changed to a value no rule names: the old need stops applying.
        coded, status = (value if value[0] else observed), INACTIVE
    else:
        return None
    fact = reader.fact(
        record_id=record_id, kind="need", coded=coded, status=status, when=seg.get(14)
    )
    return FactChange(fact, withdraw=False)


def _z_segment(seg: Segment, spec: ClinicalSegmentMap, reader: _Reader) -> Iterable[FactChange]:
    coded = _coded(seg, spec.code_field)
    if not (coded[0] or coded[1]):
        return []
    ended = {v.strip().upper() for v in spec.inactive_values.split(",") if v.strip()}
    status = ACTIVE
    if spec.status_field and seg.get(spec.status_field, 1).upper() in ended:
        status = INACTIVE
    key = coded[0] or coded[1].lower()
    fact = reader.fact(
        record_id=f"{seg.id}/{coded[2]}/{key}", kind=spec.kind, coded=coded, status=status
    )
    return [FactChange(fact, withdraw=False)]


def apply_facts(message: ParsedMessage, connector: Connector, patient: Patient) -> int:
    """Record what the message says; returns how many facts changed or were withdrawn."""
    applied = 0
    for change in changes_of(message, connector, patient):
        rec = change.record
        if change.withdraw:
            done = clinical_fact_withdraw(
                patient=patient,
                source_system=rec.source_system,
                record_id=rec.record_id,
                status=rec.status,
                recorded_at=rec.recorded_at,
            )
        else:
            done = clinical_fact_record(patient=patient, record=rec)
        applied += done is not None
    return applied
