"""Inbound HL7 v2 -> plain dataclasses -> domain services.

Wire details (segment positions, HL7 tables) stay here; patients.mpi, scheduling and
billing receive dataclasses and keyword arguments. Every handler raises
``MappingError`` for content the hub can never accept (the ledger row is rejected,
the rest of the patient's queue carries on) and lets database errors propagate
(transient: the row is retried with backoff).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from patients.mpi import PatientRecord, SourceIdentifier
from patients.phones import normalize_phone

from .reader import HL7FormatError, ParsedMessage, Segment

if TYPE_CHECKING:
    from integrations.models import Connector
    from scheduling.models import Appointment, AppointmentType, Location, Provider


class MappingError(ValueError):
    """The message is well formed but its content cannot be applied (permanent)."""


HUB_SYSTEM = "CAREHUB"  # our assigning authority in PID-3 (see hl7v2.outbound)
ERR_PID_NO_IDENTIFIER = "PID-3 carries no patient identifier"
ERR_BAD_DOB = "PID-7 date of birth is not a valid date"
ERR_PRIOR_UNKNOWN = "MRG-1 prior patient is unknown to the hub"
ERR_NO_LOCATION = "the sending connector is not linked to a location"
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
        from datetime import timedelta, timezone

        return naive.replace(tzinfo=timezone(timedelta(minutes=delta))).astimezone(UTC)
    return naive.replace(tzinfo=tz).astimezone(UTC)


def _phone(pid: Segment) -> str:
    for rep in range(1, len(pid.repetitions(13)) + 1):
        use = pid.get(13, 2, rep=rep)
        if use == "NET":
            continue
        number = pid.get(13, 1, rep=rep)
        if not normalize_phone(number):
            number = pid.get(13, 6, rep=rep) + pid.get(13, 7, rep=rep)
        if number:
            return number
    return ""


def _email(pid: Segment) -> str:
    for rep in range(1, len(pid.repetitions(13)) + 1):
        if pid.get(13, 2, rep=rep) == "NET" or pid.get(13, 3, rep=rep) == "Internet":
            return pid.get(13, 4, rep=rep)[:254]
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
    pid = message.require("PID")
    default_system = connector.identifier_system or connector.sending_application or "UNKNOWN"
    identifiers = identifiers_from(pid, 3, default_system)
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


# -- handlers -----------------------------------------------------------------------
Handler = Callable[[ParsedMessage, "Connector"], str]


def handle_adt_upsert(message: ParsedMessage, connector: Connector) -> str:
    from patients.mpi import patient_upsert_from_source

    try:
        result = patient_upsert_from_source(
            record=patient_record(message, connector),
            location_id=connector.location_id,
            origin_connector_id=connector.pk,
        )
    except ValueError as exc:
        raise MappingError(str(exc)) from None
    how = "created" if result.created else f"matched by {result.matched_by}"
    return f"patient #{result.patient.pk} {how}"


def handle_adt_merge(message: ParsedMessage, connector: Connector) -> str:
    """ADT^A40: PID is the surviving patient, MRG-1 the record that goes away."""
    from patients.models import Patient
    from patients.mpi import patient_find_by_identifiers, patient_merge, patient_upsert_from_source

    mrg = message.require("MRG")
    default_system = connector.identifier_system or connector.sending_application
    prior = identifiers_from(mrg, 1, default_system)
    if not prior:
        raise MappingError("MRG-1 carries no prior patient identifier")
    survivor = patient_upsert_from_source(
        record=patient_record(message, connector),
        location_id=connector.location_id,
        origin_connector_id=connector.pk,
    ).patient
    merged = patient_find_by_identifiers(prior)
    if merged is None:
        raise MappingError(ERR_PRIOR_UNKNOWN)
    if merged.pk == survivor.pk:
        return f"patient #{survivor.pk} already merged"
    if merged.status != Patient.Status.ACTIVE:
        raise MappingError("MRG-1 prior patient is not active")
    merge = patient_merge(survivor=survivor, merged=merged, origin_connector_id=connector.pk)
    return f"merge #{merge.pk}"


# -- scheduling (SIU, chapter 10) ------------------------------------------------------
ERR_APPT_UNKNOWN = "the appointment in SCH-1/SCH-2 is unknown to the hub"
ERR_NO_TIMING = "no appointment start time in TQ1-7 or SCH-11"
ERR_PROVIDER_UNKNOWN = "AIP-3 names no provider known to the hub (NPI)"
ERR_TYPE_UNKNOWN = "AIS-3 / SCH-8 names no appointment type known to the hub"


def scheduling_refusal(exc: Exception) -> MappingError:
    """How a scheduling service's refusal is recorded on the message (both paths)."""
    return MappingError(f"scheduling refused the change: {exc.__class__.__name__}: {exc}"[:300])


class SiuLookups:
    """The reference rows SIU messages name (location code, NPI, visit type code), read
    once per worker batch: a run of 500 bookings names a handful of them."""

    def __init__(self) -> None:
        self._locations: dict[object, Location | None] = {}
        self._providers: dict[str, Provider | None] = {}
        self._types: dict[str, AppointmentType | None] = {}

    def location(self, *, code: str = "", pk: int | None = None) -> Location | None:
        from scheduling.models import Location

        key: object = code if code else pk
        if key not in self._locations:
            lookup = {"code": code} if code else {"pk": pk}
            self._locations[key] = Location.objects.filter(**lookup).first()
        return self._locations[key]

    def provider(self, npi: str) -> Provider | None:
        from scheduling.models import Provider

        if npi not in self._providers:
            self._providers[npi] = Provider.objects.filter(npi=npi).first()
        return self._providers[npi]

    def appointment_type(self, code: str) -> AppointmentType | None:
        from scheduling.models import AppointmentType

        if code not in self._types:
            self._types[code] = AppointmentType.objects.filter(code=code).first()
        return self._types[code]


def _location(connector: Connector, message: ParsedMessage, lookups: SiuLookups) -> Location:
    ail = message.first("AIL")
    code = ail.get(3, 4) if ail else ""
    if code:
        found = lookups.location(code=code)
        if found is not None:
            return found
    if connector.location_id is None:
        raise MappingError(ERR_NO_LOCATION)
    location = lookups.location(pk=connector.location_id)
    assert location is not None  # a foreign key
    return location


def _timing(message: ParsedMessage, location: Location) -> tuple[datetime | None, datetime | None]:
    tz = ZoneInfo(location.time_zone)
    tq1 = message.first("TQ1")
    sch = message.require("SCH")
    start = parse_hl7_datetime(tq1.get(7, 1), tz) if tq1 else None
    end = parse_hl7_datetime(tq1.get(8, 1), tz) if tq1 else None
    # v2.3/2.4 senders put the timing in SCH-11 (TQ: ^^duration^start^end).
    start = start or parse_hl7_datetime(sch.get(11, 4), tz)
    end = end or parse_hl7_datetime(sch.get(11, 5), tz)
    if start and not end:
        minutes = sch.get(9, 1)
        if minutes.isdigit():
            from datetime import timedelta

            end = start + timedelta(minutes=int(minutes))
    return start, end


def _provider(message: ParsedMessage, lookups: SiuLookups) -> Provider | None:
    aip = message.first("AIP")
    npi = aip.get(3, 1) if aip else ""
    if not npi:
        return None
    provider = lookups.provider(npi)
    if provider is None:
        raise MappingError(ERR_PROVIDER_UNKNOWN)
    return provider


def _appointment_type(message: ParsedMessage, lookups: SiuLookups) -> AppointmentType | None:
    ais = message.first("AIS")
    code = (ais.get(3, 1) if ais else "") or message.require("SCH").get(8, 1)
    if not code:
        return None
    found = lookups.appointment_type(code)
    if found is None:
        raise MappingError(ERR_TYPE_UNKNOWN)
    return found


def _ids(message: ParsedMessage) -> tuple[int | None, str]:
    """(hub appointment id, the PMS's own id). SCH-1 with our namespace is a booking the
    hub made and sent; otherwise the PMS's id is its filler id (SCH-2), else SCH-1."""
    sch = message.require("SCH")
    hub_id: int | None = None
    for field_no in (1, 2):
        if sch.get(field_no, 2) == "CAREHUB" and sch.get(field_no, 1).isdigit():
            hub_id = int(sch.get(field_no, 1))
    external = ""
    for field_no in (2, 1):
        if sch.get(field_no, 1) and sch.get(field_no, 2) != "CAREHUB":
            external = sch.get(field_no, 1)[:64]
            break
    return hub_id, external


def _find_appointment(message: ParsedMessage, location: Location) -> Appointment:
    from scheduling.models import Appointment

    hub_id, external = _ids(message)
    found = None
    if hub_id is not None:
        found = Appointment.objects.filter(pk=hub_id).first()
    if found is None and external:
        found = Appointment.objects.filter(location=location, external_id=external).first()
    if found is None:
        raise MappingError(ERR_APPT_UNKNOWN)
    return found


@dataclass(frozen=True)
class FrontDeskBooking:
    """What an SIU^S12 asks of the hub, resolved to the hub's rows (no wire format)."""

    record: PatientRecord
    location: Location
    provider: Provider
    appointment_type: AppointmentType
    start: datetime
    end: datetime
    external_id: str


def _front_desk_booking(
    message: ParsedMessage, connector: Connector, lookups: SiuLookups
) -> FrontDeskBooking:
    location = _location(connector, message, lookups)
    record = patient_record(message, connector)
    start, end = _timing(message, location)
    provider = _provider(message, lookups)
    atype = _appointment_type(message, lookups)
    if start is None or end is None:
        raise MappingError(ERR_NO_TIMING)
    if provider is None:
        raise MappingError(ERR_PROVIDER_UNKNOWN)
    if atype is None:
        raise MappingError(ERR_TYPE_UNKNOWN)
    _, external = _ids(message)
    return FrontDeskBooking(record, location, provider, atype, start, end, external)


def booking_of(raw: str, connector: Connector, lookups: SiuLookups) -> FrontDeskBooking:
    """The FrontDeskBooking of a stored SIU^S12 (the worker's bulk path)."""
    message = _parsed(raw)
    return _front_desk_booking(message, connector, lookups)


CHANGE_EVENTS = {"S13": "modified", "S14": "modified", "S15": "cancelled", "S26": "no_show"}


@dataclass(frozen=True)
class FrontDeskChange:
    """What an SIU^S13/S14 (move, reassign, retype), S15 (cancel) or S26 (no-show) asks:
    the appointment it names, by our id echoed in SCH-1/SCH-2 or by the PMS's own id at
    the location, the event, and for a modification the new values (None: unchanged).
    ``problem`` is a mapping error that only counts once the appointment is found, as
    in ``handle_siu``."""

    location: Location
    hub_id: int | None
    external_id: str
    event: str
    start: datetime | None = None
    end: datetime | None = None
    provider: Provider | None = None
    appointment_type: AppointmentType | None = None
    problem: MappingError | None = None


def change_of(raw: str, connector: Connector, lookups: SiuLookups) -> FrontDeskChange:
    """The FrontDeskChange of a stored SIU^S13/S14/S15/S26 (the worker's bulk path)."""
    message = _parsed(raw)
    event = CHANGE_EVENTS.get(message.header.trigger_event)
    if event is None:
        raise MappingError(ERR_HANDLER)
    hub_id, external = _ids(message)
    location = _location(connector, message, lookups)
    if event != "modified":
        return FrontDeskChange(location, hub_id, external, event)
    try:
        start, end = _timing(message, location)
        provider = _provider(message, lookups)
        atype = _appointment_type(message, lookups)
    except MappingError as exc:
        return FrontDeskChange(location, hub_id, external, event, problem=exc)
    return FrontDeskChange(location, hub_id, external, event, start, end, provider, atype)


def appointment_ids_of(ends: list[FrontDeskChange]) -> list[int | None]:
    """The hub appointment each one names, found as ``_find_appointment`` finds it (our
    id first, then the PMS's id at the location), in two queries for the lot."""
    from scheduling.models import Appointment

    hub_ids = {e.hub_id for e in ends if e.hub_id is not None}
    existing = set(Appointment.objects.filter(pk__in=hub_ids).values_list("pk", flat=True))
    wanted = {(e.location.pk, e.external_id) for e in ends if e.external_id}
    by_external: dict[tuple[int, str], int] = {}
    if wanted:
        for pk, location_id, external_id in Appointment.objects.filter(
            location_id__in={loc for loc, _ in wanted},
            external_id__in={ext for _, ext in wanted},
        ).values_list("pk", "location_id", "external_id"):
            by_external[(location_id, external_id)] = pk
    found: list[int | None] = []
    for end in ends:
        if end.hub_id is not None and end.hub_id in existing:
            found.append(end.hub_id)
        else:
            found.append(by_external.get((end.location.pk, end.external_id)))
    return found


def handle_siu(message: ParsedMessage, connector: Connector) -> str:
    from patients.mpi import patient_upsert_from_source
    from scheduling import services
    from scheduling.services import SchedulingError

    trigger = message.header.trigger_event
    lookups = SiuLookups()
    try:
        if trigger == "S12":
            booking = _front_desk_booking(message, connector, lookups)
            # Units (and holds) before the patient: the order an agent's booking takes.
            services.external_windows_lock(
                windows=[(booking.provider.pk, booking.start, booking.end)]
            )
            patient = patient_upsert_from_source(
                record=booking.record,
                location_id=booking.location.pk,
                origin_connector_id=connector.pk,
            ).patient
            appt = services.appointment_record_external(
                patient=patient,
                provider=booking.provider,
                location=booking.location,
                appointment_type=booking.appointment_type,
                start=booking.start,
                end=booking.end,
                origin_connector_id=connector.pk,
                external_id=booking.external_id,
            )
            return f"appointment #{appt.pk} booked"
        location = _location(connector, message, lookups)
        appt = _find_appointment(message, location)
        if trigger in {"S13", "S14"}:
            start, end = _timing(message, location)
            appt = services.appointment_update_external(
                appointment=appt,
                start=start,
                end=end,
                provider=_provider(message, lookups),
                appointment_type=_appointment_type(message, lookups),
                origin_connector_id=connector.pk,
            )
            return f"appointment #{appt.pk} updated"
        if trigger == "S15":
            services.appointment_cancel_external(appointment=appt, origin_connector_id=connector.pk)
            return f"appointment #{appt.pk} cancelled"
        if trigger == "S26":
            services.appointment_mark_no_show(appointment=appt, origin_connector_id=connector.pk)
            return f"appointment #{appt.pk} no-show"
    except SchedulingError as exc:
        raise scheduling_refusal(exc) from None
    raise MappingError(ERR_HANDLER)


# -- financial (DFT^P03, chapter 6) ---------------------------------------------------
def handle_dft(message: ParsedMessage, connector: Connector) -> str:
    """Charges posted by the EHR/PMS after a visit: FT1 lines (CPT/CDT in FT1-25, else
    FT1-7), DG1 diagnoses (ICD-10-CM) whose order gives the claim's pointers; the visit
    is PV1-50 (our appointment id, when the visit was booked through the hub) or PV1-19."""
    from billing.documentation import EncounterDocumentation, ProcedureLine
    from billing.services import DocumentationError, encounter_document
    from patients.mpi import patient_upsert_from_source

    location = _location(connector, message, SiuLookups())
    tz = ZoneInfo(location.time_zone)
    diagnoses = [
        dg1.get(3, 1) for dg1 in sorted(message.all("DG1"), key=lambda s: int(s.get(1) or 0))
    ]
    diagnoses = [d for d in diagnoses if d]
    lines = []
    npi = ""
    service_day = None
    for ft1 in message.all("FT1"):
        code = ft1.get(25, 1) or ft1.get(7, 1)
        if not code:
            raise MappingError("FT1 carries no procedure code (FT1-25 or FT1-7)")
        units_raw = ft1.get(10, 1)
        try:
            units = int(float(units_raw)) if units_raw else 1
        except ValueError:
            raise MappingError("FT1-10 quantity is not a number") from None
        pointers = tuple(
            diagnoses.index(ft1.get(19, 1, rep=rep)) + 1
            for rep in range(1, len(ft1.repetitions(19)) + 1)
            if ft1.get(19, 1, rep=rep) in diagnoses
        ) or (1,)
        modifiers = tuple(
            ft1.get(26, 1, rep=rep)
            for rep in range(1, len(ft1.repetitions(26)) + 1)
            if ft1.get(26, 1, rep=rep)
        )
        day = parse_hl7_datetime(ft1.get(4, 1), tz)
        service_day = service_day or (day.astimezone(tz).date() if day else None)
        npi = npi or ft1.get(20, 1)
        lines.append(
            ProcedureLine(
                code=code,
                units=units,
                modifiers=modifiers,
                diagnosis_pointers=pointers,
                service_date=day.astimezone(tz).date() if day else None,
            )
        )
    pv1 = message.first("PV1")
    appointment_id = None
    encounter_number = ""
    if pv1 is not None:
        visit_id, authority = pv1.get(50, 1), pv1.get(50, 4)
        if authority == HUB_SYSTEM and visit_id.isdigit():
            appointment_id = int(visit_id)
        elif visit_id:
            # The PMS's own appointment id, for visits its front desk booked.
            from scheduling.models import Appointment

            appointment_id = (
                Appointment.objects.filter(location=location, external_id=visit_id)
                .values_list("pk", flat=True)
                .first()
            )
        encounter_number = pv1.get(19, 1)[:30]
    evn = message.require("EVN")
    documented_at = parse_hl7_datetime(evn.get(2, 1), tz) or datetime.now(UTC)
    patient_id = None
    if appointment_id is None and not encounter_number:
        patient_id = patient_upsert_from_source(
            record=patient_record(message, connector),
            location_id=location.pk,
            origin_connector_id=connector.pk,
        ).patient.pk
    doc = EncounterDocumentation(
        source_system=connector.name[:60],
        documented_at=documented_at,
        diagnoses=tuple(diagnoses),
        procedures=tuple(lines),
        appointment_id=appointment_id,
        encounter_number=encounter_number,
        documentation_ref=(message.header.control_id or "")[:80],
        patient_id=patient_id,
        provider_npi=npi,
        location_id=location.pk,
        date_of_service=service_day,
    )
    try:
        encounter = encounter_document(doc=doc)
    except DocumentationError as exc:
        raise MappingError(f"billing refused the documentation: {exc}"[:300]) from None
    return f"encounter #{encounter.pk} documented"


HANDLERS: dict[str, Handler] = {
    "ADT^A04": handle_adt_upsert,
    "ADT^A08": handle_adt_upsert,
    "ADT^A40": handle_adt_merge,
    "SIU^S12": handle_siu,
    "SIU^S13": handle_siu,
    "SIU^S14": handle_siu,
    "SIU^S15": handle_siu,
    "SIU^S26": handle_siu,
    "DFT^P03": handle_dft,
}


def _parsed(raw: str) -> ParsedMessage:
    try:
        return ParsedMessage(raw)
    except HL7FormatError as exc:
        raise MappingError(exc.reason) from None


def record_of(raw: str, connector: Connector) -> PatientRecord:
    """The PatientRecord of a stored ADT^A04/A08 (the worker's bulk path)."""
    message = _parsed(raw)
    return patient_record(message, connector)


def handle(raw: str, connector: Connector) -> str:
    """Apply one stored message. Returns a short non-PHI note for the ledger."""
    message = _parsed(raw)
    handler = HANDLERS.get(message.header.message_type)
    if handler is None:
        raise MappingError(ERR_HANDLER)
    return handler(message, connector)
