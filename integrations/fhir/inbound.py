"""Inbound FHIR R4 (polled from a connector) -> plain dataclasses -> domain services.

Resources are checked against fhir.resources' R4B models first; a resource that does
not validate is rejected with the model's complaint, like an HL7 message with a broken
segment. Mapping errors are permanent (MappingError), database errors transient.
"""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING, Any

from integrations.hl7v2.fields import MappingError
from patients.mpi import PatientRecord, SourceIdentifier

from . import clinical, referrals
from .references import connector_system, fhir_instant, patient_for
from .resources import APPOINTMENT_SYSTEM, NPI_SYSTEM, PATIENT_SYSTEM

if TYPE_CHECKING:
    from integrations.models import Connector

# Connector.Role.LOCATION_EHR (models are imported lazily in this module).
EHR_ROLE = "location_ehr"

ICD10_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10"}
GENDER = {"female": "F", "male": "M", "other": "O", "unknown": "U"}


def _validate(resource: dict[str, Any]) -> None:
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (KeyError, ValueError) as exc:
        raise MappingError(f"not a valid R4 resource: {str(exc)[:200]}") from None


def patient_record(resource: dict[str, Any], connector: Connector) -> PatientRecord:
    name = (resource.get("name") or [{}])[0]
    given = name.get("given") or [""]
    telecom = resource.get("telecom", [])
    address = (resource.get("address") or [{}])[0]
    hub_id = None
    identifiers = [
        SourceIdentifier(system=connector_system(connector), value=str(resource["id"])[:64])
    ]
    for ident in resource.get("identifier", []):
        if ident.get("system") == PATIENT_SYSTEM and str(ident.get("value", "")).isdigit():
            hub_id = int(ident["value"])
    language = ""
    for comm in resource.get("communication", []):
        for coding in comm.get("language", {}).get("coding", []):
            language = str(coding.get("code", ""))[:2]
    birth = resource.get("birthDate")
    return PatientRecord(
        identifiers=tuple(identifiers),
        first_name=str(given[0])[:60],
        middle_name=str(given[1])[:60] if len(given) > 1 else "",
        last_name=str(name.get("family", ""))[:60],
        date_of_birth=date.fromisoformat(birth) if birth else None,
        sex=GENDER.get(resource.get("gender", ""), ""),
        phone=next((t["value"] for t in telecom if t.get("system") == "phone"), ""),
        email=next((t["value"] for t in telecom if t.get("system") == "email"), "")[:254],
        address_line=" ".join(address.get("line", []))[:200],
        city=address.get("city", "")[:80],
        state=address.get("state", "")[:2],
        zip_code=address.get("postalCode", "")[:10],
        preferred_language=language,
        hub_id=hub_id,
    )


def handle_patient(resource: dict[str, Any], connector: Connector) -> str:
    from patients.mpi import patient_upsert_from_source

    try:
        result = patient_upsert_from_source(
            record=patient_record(resource, connector),
            location_id=connector.location_id,
            origin_connector_id=connector.pk,
        )
    except ValueError as exc:
        raise MappingError(str(exc)) from None
    return f"patient #{result.patient.pk} {'created' if result.created else 'updated'}"


def _npi(actor: dict[str, Any]) -> str:
    ident = actor.get("identifier", {})
    return str(ident.get("value", "")) if ident.get("system") == NPI_SYSTEM else ""


def handle_appointment(resource: dict[str, Any], connector: Connector) -> str:
    from scheduling import services
    from scheduling.models import Appointment, AppointmentType, Location, Provider
    from scheduling.services import SchedulingError

    if connector.location_id is None:
        raise MappingError("the connector is not linked to a location")
    location = Location.objects.get(pk=connector.location_id)
    hub_id = next(
        (
            int(i["value"])
            for i in resource.get("identifier", [])
            if i.get("system") == APPOINTMENT_SYSTEM and str(i.get("value", "")).isdigit()
        ),
        None,
    )
    external = str(resource.get("id", ""))[:64]
    existing = (
        Appointment.objects.filter(pk=hub_id).first()
        if hub_id
        else Appointment.objects.filter(location=location, external_id=external).first()
    )
    status = resource.get("status")
    start = fhir_instant(resource["start"]) if resource.get("start") else None
    end = fhir_instant(resource["end"]) if resource.get("end") else None
    try:
        if existing is not None:
            if status in {"cancelled", "entered-in-error"}:
                services.appointment_cancel_external(
                    appointment=existing, origin_connector_id=connector.pk
                )
                return f"appointment #{existing.pk} cancelled"
            if status == "noshow":
                services.appointment_mark_no_show(
                    appointment=existing, origin_connector_id=connector.pk
                )
                return f"appointment #{existing.pk} no-show"
            if existing.status in Appointment.ACTIVE_STATUSES and (start, end) != (
                existing.start,
                existing.end,
            ):
                services.appointment_update_external(
                    appointment=existing, start=start, end=end, origin_connector_id=connector.pk
                )
                return f"appointment #{existing.pk} moved"
            return f"appointment #{existing.pk} unchanged"
        if status not in {"booked", "pending", "arrived"}:
            return "not booked here; nothing to record"
        patient = next(
            (
                patient_for(p["actor"], connector)
                for p in resource.get("participant", [])
                if str(p.get("actor", {}).get("reference", "")).startswith("Patient/")
            ),
            None,
        )
        npi = next(
            (
                _npi(p.get("actor", {}))
                for p in resource.get("participant", [])
                if _npi(p.get("actor", {}))
            ),
            "",
        )
        provider = Provider.objects.filter(npi=npi).first() if npi else None
        code = next(
            (c.get("code") for st in resource.get("serviceType", []) for c in st.get("coding", [])),
            None,
        )
        atype = AppointmentType.objects.filter(code=code).first() if code else None
        if patient is None or provider is None or atype is None or start is None or end is None:
            raise MappingError(
                "Appointment lacks a known patient, practitioner NPI, service type or times"
            )
        appt = services.appointment_record_external(
            patient=patient,
            provider=provider,
            location=location,
            appointment_type=atype,
            start=start,
            end=end,
            origin_connector_id=connector.pk,
            external_id=external,
        )
    except SchedulingError as exc:
        raise MappingError(f"scheduling refused the change: {exc}") from None
    return f"appointment #{appt.pk} booked"


def handle_encounter(bundle: dict[str, Any], connector: Connector) -> str:
    """A finished Encounter with its Conditions (ICD-10-CM) and Procedures (CPT/CDT)."""
    from billing.documentation import EncounterDocumentation, ProcedureLine
    from billing.services import DocumentationError, encounter_document
    from scheduling.models import Appointment

    parts = [e["resource"] for e in bundle.get("entry", [])]
    encounter = parts[0]
    for part in parts:
        _validate(part)
    if encounter.get("status") != "finished":
        return f"encounter {encounter.get('status')}: not documented yet"
    diagnoses = [
        str(c["code"])
        for cond in parts
        if cond["resourceType"] == "Condition"
        for c in cond.get("code", {}).get("coding", [])
        if c.get("system") in ICD10_SYSTEMS and c.get("code")
    ]
    procedures = [
        ProcedureLine(code=str(c["code"]))
        for proc in parts
        if proc["resourceType"] == "Procedure"
        for c in proc.get("code", {}).get("coding", [])[:1]
        if c.get("code")
    ]
    appointment_id = None
    for ref in encounter.get("appointment", []):
        ident = ref.get("identifier", {})
        if ident.get("system") == APPOINTMENT_SYSTEM and str(ident.get("value", "")).isdigit():
            appointment_id = int(ident["value"])
        elif str(ref.get("reference", "")).startswith("Appointment/") and connector.location_id:
            appointment_id = (
                Appointment.objects.filter(
                    location_id=connector.location_id,
                    external_id=ref["reference"].split("/", 1)[1],
                )
                .values_list("pk", flat=True)
                .first()
            )
    period_end = encounter.get("period", {}).get("end") or encounter.get("meta", {}).get(
        "lastUpdated"
    )
    documented_at = fhir_instant(period_end) if period_end else None
    if documented_at is None:
        raise MappingError("Encounter has no period.end or meta.lastUpdated")
    patient = patient_for(encounter.get("subject", {}), connector)
    npi = next(
        (
            _npi(p.get("individual", {}))
            for p in encounter.get("participant", [])
            if _npi(p.get("individual", {}))
        ),
        "",
    )
    doc = EncounterDocumentation(
        source_system=connector.name[:60],
        documented_at=documented_at,
        diagnoses=tuple(diagnoses),
        procedures=tuple(procedures),
        appointment_id=appointment_id,
        documentation_ref=f"Encounter/{encounter.get('id', '')}"[:80],
        # Signed when the EHR says when the visit's documentation ended (period.end), not
        # only when the resource last changed.
        ehr_signed=bool(encounter.get("period", {}).get("end")) and connector.role == EHR_ROLE,
        patient_id=patient.pk,
        provider_npi=npi,
        location_id=connector.location_id,
        date_of_service=documented_at.date(),
    )
    try:
        result = encounter_document(doc=doc)
    except DocumentationError as exc:
        raise MappingError(f"billing refused the documentation: {exc}") from None
    return f"encounter #{result.pk} documented"


def handle_coverage(resource: dict[str, Any], connector: Connector) -> str:
    from billing.models import Plan
    from config.crypto.fields import blind_index_of
    from patients.models import Coverage

    patient = patient_for(resource.get("beneficiary", {}), connector)
    plan_code = next(
        (
            str(c.get("value"))
            for c in resource.get("class", [])
            if any(t.get("code") == "plan" for t in c.get("type", {}).get("coding", []))
        ),
        "",
    )
    plan = Plan.objects.filter(code=plan_code).first() if plan_code else None
    member_id = str(resource.get("subscriberId", ""))[:40]
    if plan is None or not member_id:
        raise MappingError("Coverage names no known plan (class plan) or no subscriberId")
    active = resource.get("status") == "active"
    priority = 2 if resource.get("order") == 2 else 1
    coverage = Coverage.objects.filter(
        patient=patient,
        plan=plan,
        member_id_bidx=blind_index_of(Coverage, "member_id_bidx", member_id),
    ).first()
    if coverage is None:
        if active:
            Coverage.objects.filter(patient=patient, priority=priority, active=True).update(
                active=False
            )
        coverage = Coverage.objects.create(
            patient=patient, plan=plan, member_id=member_id, priority=priority, active=active
        )
        return f"coverage #{coverage.pk} added"
    if coverage.active != active:
        coverage.active = active
        coverage.save(update_fields=["active"])
    return f"coverage #{coverage.pk} {'active' if active else 'inactive'}"


HANDLERS = {
    "FHIR Patient": handle_patient,
    "FHIR Appointment": handle_appointment,
    "FHIR Encounter": handle_encounter,
    "FHIR Coverage": handle_coverage,
    "FHIR Condition": clinical.handle_condition,
    "FHIR Allergy": clinical.handle_allergy,
    "FHIR Flag": clinical.handle_flag,
    "FHIR ServiceRequest": referrals.handle_service_request,
}


def handle(message_type: str, raw: str, connector: Connector) -> str:
    try:
        resource = json.loads(raw)
    except ValueError:
        raise MappingError("not JSON") from None
    if message_type == "FHIR Procedure":
        return "applied with its Encounter"
    handler = HANDLERS.get(message_type)
    if handler is None:
        raise MappingError("no handler for this resource type")
    if message_type != "FHIR Encounter":
        _validate(resource)
    return handler(resource, connector)
