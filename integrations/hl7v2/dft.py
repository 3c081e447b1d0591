"""DFT (HL7 v2.5.1 chapter 6): charges the location's EHR/PMS posts after a visit (P03).

``charges_of`` maps the message to billing's ``EncounterDocumentation``; ``handle_dft``
hands it to ``billing.services.encounter_document``, which opens the encounter and the
claim's lines (code-to-claim).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from billing.documentation import EncounterDocumentation, ProcedureLine
from billing.services import DocumentationError, encounter_document
from patients.mpi import PatientRecord, patient_upsert_from_source

from .fields import HUB_SYSTEM, MappingError, parse_hl7_datetime, patient_record
from .reader import ParsedMessage
from .siu import SiuLookups, location_of

if TYPE_CHECKING:
    from integrations.models import Connector


@dataclass(frozen=True)
class PostedCharges:
    """A DFT^P03 resolved for billing. ``record`` is the patient to register first when
    the visit names neither our appointment nor an encounter number (else None)."""

    documentation: EncounterDocumentation
    record: PatientRecord | None


def charges_of(message: ParsedMessage, connector: Connector) -> PostedCharges:
    """FT1 lines (CPT/CDT in FT1-25, else FT1-7), DG1 diagnoses (ICD-10-CM) whose order
    gives the claim's pointers; the visit is PV1-50 (our appointment id, when the visit
    was booked through the hub) or PV1-19. Reads the hub's rows, writes nothing."""
    location = location_of(connector, message, SiuLookups())
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
    from integrations.models import Connector as ConnectorModel

    signed_at = parse_hl7_datetime(evn.get(2, 1), tz)
    documented_at = signed_at or datetime.now(UTC)
    record = None
    if appointment_id is None and not encounter_number:
        record = patient_record(message, connector)
    doc = EncounterDocumentation(
        source_system=connector.name[:60],
        documented_at=documented_at,
        diagnoses=tuple(diagnoses),
        procedures=tuple(lines),
        appointment_id=appointment_id,
        encounter_number=encounter_number,
        documentation_ref=(message.header.control_id or "")[:80],
        # A PMS posts charges; only the EHR's own event time (EVN-2) dates a signed note.
        ehr_signed=signed_at is not None and connector.role == ConnectorModel.Role.LOCATION_EHR,
        patient_id=None,
        provider_npi=npi,
        location_id=location.pk,
        date_of_service=service_day,
    )
    return PostedCharges(doc, record)


def handle_dft(message: ParsedMessage, connector: Connector) -> str:
    """DFT^P03: register the patient if the visit is otherwise unknown, then document."""
    charges = charges_of(message, connector)
    doc = charges.documentation
    if charges.record is not None:
        patient_id = patient_upsert_from_source(
            record=charges.record,
            location_id=doc.location_id,
            origin_connector_id=connector.pk,
        ).patient.pk
        doc = dataclasses.replace(doc, patient_id=patient_id)
    try:
        encounter = encounter_document(doc=doc)
    except DocumentationError as exc:
        raise MappingError(f"billing refused the documentation: {exc}"[:300]) from None
    return f"encounter #{encounter.pk} documented"
