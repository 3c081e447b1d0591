"""SIU (HL7 v2.5.1 chapter 10): front-desk bookings (S12), changes (S13/S14), cancellations
(S15) and no-shows (S26) made at a location's PMS.

The mappers (``booking_of``, ``change_of``) resolve the wire message to the hub's rows
(``FrontDeskBooking``, ``FrontDeskChange``); the worker's set-based runs apply many at once
through scheduling's batch services, and ``handle_siu`` applies one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from patients.mpi import PatientRecord, patient_upsert_from_source

from .fields import ERR_HANDLER, MappingError, parse_hl7_datetime, parse_or_reject, patient_record
from .reader import ParsedMessage

if TYPE_CHECKING:
    from integrations.models import Connector
    from scheduling.models import Appointment, AppointmentType, Location, Provider

ERR_NO_LOCATION = "the sending connector is not linked to a location"
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


def location_of(connector: Connector, message: ParsedMessage, lookups: SiuLookups) -> Location:
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
    # AIL-3 is a PL (point of care ^ room ^ bed ^ facility ...): component 2 names the
    # room the front desk put the visit in, "" when it did not say.
    room_code: str = ""


def _front_desk_booking(
    message: ParsedMessage, connector: Connector, lookups: SiuLookups
) -> FrontDeskBooking:
    location = location_of(connector, message, lookups)
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
    ail = message.first("AIL")
    room_code = ail.get(3, 2) if ail else ""
    return FrontDeskBooking(record, location, provider, atype, start, end, external, room_code)


def booking_of(raw: str, connector: Connector, lookups: SiuLookups) -> FrontDeskBooking:
    """The FrontDeskBooking of a stored SIU^S12 (the worker's set-based run)."""
    message = parse_or_reject(raw)
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
    """The FrontDeskChange of a stored SIU^S13/S14/S15/S26 (the worker's set-based run)."""
    message = parse_or_reject(raw)
    event = CHANGE_EVENTS.get(message.header.trigger_event)
    if event is None:
        raise MappingError(ERR_HANDLER)
    hub_id, external = _ids(message)
    location = location_of(connector, message, lookups)
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
                room_code=booking.room_code,
            )
            return f"appointment #{appt.pk} booked"
        location = location_of(connector, message, lookups)
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
