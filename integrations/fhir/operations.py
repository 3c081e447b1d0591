"""Appointment create and the IHE ITI Scheduling operations ($find, $hold, $book).

https://profiles.ihe.net/ITI/SCHED/ : $find proposes appointments (status "proposed"),
$hold reserves one for a short time (status "pending"), $book confirms it. They run
scheduling.selectors.slot_search and scheduling.services, so a partner app gets the
same rules, exclusion reasons and double-booking guarantees as an agent.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from config.inputs import ERR_DATE_RANGE, parse_id, validate_calendar_date
from patients.models import Patient
from scheduling.models import Appointment, AppointmentType, BookReason, Hold, Slot

from . import resources as r
from .http import FhirError

HOLD_SYSTEM = "urn:carehub:hold"
# Parameter names: IHE ITI Scheduling 1.0.0 first (OperationDefinition appointment-find,
# -hold, -book), then the names this server used before IHE's were published.
FIND_PATIENT = ("patient-reference", "patient-resource", "patient")
FIND_TYPE = ("visit-type", "service-type")
FIND_LOCATION = ("location-reference", "location")
APPOINTMENT_PARAMS = ("appointment-resource", "appointment-reference", "appointment")
# A $find proposal is not stored: its id names what $hold needs (slot, patient, type),
# and a $hold answer's id names the hold instead of the slot. Ids only, no PHI.
_PROPOSAL_ID = re.compile(r"^(?P<kind>proposal|hold)-(?P<key>\d+)-(?P<patient>\d+)-(?P<type>\d+)$")
ERR_UNKNOWN_PROPOSAL = (
    "appointment-reference names no appointment proposed by $find or held by $hold here."
)
ERR_PATIENT_RESOURCE = (
    "patient-resource must carry the id of a patient this server knows; "
    "register the patient first, then use patient-reference."
)
ERR_NO_SLOT = "The appointment names no Slot (slot[0].reference = Slot/<id>)."
ERR_NO_PATIENT = "The appointment names no patient participant (Patient/<id>)."
ERR_NO_TYPE = "The appointment names no known service type (serviceType coding code)."
ERR_NO_APPOINTMENT = (
    "Parameters carry no appointment: send appointment-reference (an id from $find or "
    "$hold) or appointment-resource."
)


def _param(parameters: dict[str, Any], *names: str) -> Any:
    """The first of ``names`` present (IHE's name first, then this server's own)."""
    for name in names:
        for p in parameters.get("parameter") or []:
            if p.get("name") == name:
                for key, value in p.items():
                    if key.startswith("value") or key == "resource":
                        return value
    return None


def proposal_id(kind: str, key: int, patient_id: int, type_id: int) -> str:
    return f"{kind}-{key}-{patient_id}-{type_id}"


def _referenced_appointment(value: Any) -> dict[str, Any]:
    """The appointment an ``appointment-reference`` names ("Appointment/<id>" or an
    absolute URL ending so): a $find proposal or a $hold answer, rebuilt from its id."""
    ref = value.get("reference", "") if isinstance(value, dict) else value
    ident = str(ref).rstrip("/").rsplit("/", 1)[-1]
    match = _PROPOSAL_ID.match(ident)
    atype = (
        AppointmentType.objects.filter(pk=int(match["type"])).first() if match is not None else None
    )
    if match is None or atype is None:
        raise FhirError(400, "invalid", ERR_UNKNOWN_PROPOSAL)
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "serviceType": [{"coding": [{"code": atype.code}]}],
        "participant": [{"actor": {"reference": f"Patient/{match['patient']}"}}],
    }
    if match["kind"] == "proposal":
        resource["slot"] = [{"reference": f"Slot/{match['key']}"}]
    else:
        held = Hold.objects.filter(pk=int(match["key"])).first()
        if held is None:
            raise FhirError(409, "conflict", "The hold does not exist or is for another slot.")
        resource["slot"] = [{"reference": f"Slot/{held.slot_id}"}]
        resource["identifier"] = [{"system": HOLD_SYSTEM, "value": match["key"]}]
    return resource


def proposal_read(ident: str, *, user: Any) -> dict[str, Any] | None:
    """GET Appointment/<id> of a $find proposal or a $hold answer, rebuilt from its id
    (its fullUrl in their Bundles); None when it names nothing here any more, or names a
    patient outside the user's region."""
    from scheduling.selectors import patient_in_scope

    if not _PROPOSAL_ID.match(ident):
        return None
    try:
        resource = _referenced_appointment(f"Appointment/{ident}")
        slot, patient, atype = _appointment_parts(resource)
    except FhirError:
        return None
    if not patient_in_scope(user, patient.pk):
        return None
    status = "pending" if ident.startswith("hold-") else "proposed"
    option = {
        "start": slot.start,
        "end": slot.end,
        "slot_id": slot.pk,
        "provider_id": slot.provider_id,
        "provider": str(slot.provider),
        "location_id": slot.location_id,
        "location": slot.location.name,
    }
    return _proposed(option, patient, atype, status) | {"id": ident}


def _appointment_param(parameters: dict[str, Any]) -> dict[str, Any]:
    """$hold/$book input: IHE's appointment-resource or appointment-reference, or this
    server's own ``appointment`` (a resource)."""
    for name in APPOINTMENT_PARAMS:
        value = _param(parameters, name)
        if value is None:
            continue
        if name == "appointment-reference":
            return _referenced_appointment(value)
        if isinstance(value, dict):
            return value
    raise FhirError(400, "invalid", ERR_NO_APPOINTMENT)


def _reference_id(value: Any, resource_type: str) -> int | None:
    if isinstance(value, dict):
        value = value.get("reference", "")
    if isinstance(value, str) and value.startswith(f"{resource_type}/"):
        return parse_id(value.split("/", 1)[1])
    return None


def _code(value: Any) -> str:
    if isinstance(value, str):
        return value.partition("|")[2] or value
    if isinstance(value, dict):
        if "code" in value:
            return str(value["code"])
        for coding in value.get("coding") or []:
            if coding.get("code"):
                return str(coding["code"])
    return ""


def _patient(ref: Any) -> Patient:
    pk = _reference_id(ref, "Patient")
    patient = Patient.objects.filter(pk=pk, status=Patient.Status.ACTIVE).first() if pk else None
    if patient is None:
        raise FhirError(400, "invalid", ERR_NO_PATIENT)
    return patient


def _find_patient(value: Any) -> Any:
    """$find's patient-resource is a whole Patient; the hub books only patients it
    knows, so it must carry one of their ids (a reference is built from it)."""
    if isinstance(value, dict) and value.get("resourceType") == "Patient":
        if not str(value.get("id", "")).isdigit():
            raise FhirError(400, "invalid", ERR_PATIENT_RESOURCE)
        return {"reference": f"Patient/{value['id']}"}
    return value


def _type(value: Any) -> AppointmentType:
    code = _code(value)
    atype = AppointmentType.objects.filter(code=code, active=True).first() if code else None
    if atype is None:
        raise FhirError(400, "invalid", ERR_NO_TYPE)
    return atype


def _scheduling_error(exc: Exception) -> FhirError:
    status = int(getattr(exc, "status_code", 409))
    details = "; ".join(getattr(exc, "details", []) or [])
    message = f"{exc}" + (f" ({details})" if details else "")
    return FhirError(status, "conflict" if status == 409 else "business-rule", message)


def _appointment_parts(resource: dict[str, Any]) -> tuple[Slot, Patient, AppointmentType]:
    if resource.get("resourceType") != "Appointment":
        raise FhirError(400, "invalid", ERR_NO_APPOINTMENT)
    slots = resource.get("slot") or []
    slot_pk = _reference_id(slots[0], "Slot") if slots else None
    slot = (
        Slot.objects.select_related("provider", "location").filter(pk=slot_pk).first()
        if slot_pk is not None
        else None
    )
    if slot is None:
        raise FhirError(400, "invalid", ERR_NO_SLOT)
    patient_ref = next(
        (
            p.get("actor") or {}
            for p in resource.get("participant") or []
            if str((p.get("actor") or {}).get("reference", "")).startswith("Patient/")
        ),
        None,
    )
    service = (resource.get("serviceType") or [None])[0]
    return slot, _patient(patient_ref), _type(service)


def _proposed(option: Any, patient: Patient, atype: AppointmentType, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": status,
        "serviceType": [
            {
                "coding": [
                    {"system": r.SERVICE_TYPE_SYSTEM, "code": atype.code, "display": atype.name}
                ]
            }
        ],
        "start": r.instant(option["start"]),
        "end": r.instant(option["end"]),
        "slot": [{"reference": f"Slot/{option['slot_id']}"}],
        "participant": [
            {"actor": {"reference": f"Patient/{patient.pk}"}, "status": "needs-action"},
            {
                "actor": {
                    "reference": f"Practitioner/{option['provider_id']}",
                    "display": option["provider"],
                },
                "status": "tentative",
            },
            {
                "actor": {
                    "reference": f"Location/{option['location_id']}",
                    "display": option["location"],
                },
                "status": "tentative",
            },
        ],
    }


def _bundle(
    entries: list[dict[str, Any]], outcome: dict[str, Any] | None = None, *, base: str
) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"fullUrl": f"{base}/Appointment/{res['id']}", "resource": res, "search": {"mode": "match"}}
        for res in entries
    ]
    if outcome is not None:
        items.append(
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": outcome,
                "search": {"mode": "outcome"},
            }
        )
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
    if items:  # json.html: an array is never empty; no proposals means no "entry"
        bundle["entry"] = items
    return bundle


def find(*, user: Any, parameters: dict[str, Any], base: str) -> dict[str, Any]:
    """$find: ranked proposals from the slot finder; exclusions ride along as an
    OperationOutcome with one information issue per excluded location or provider."""
    from scheduling.selectors import patient_in_scope, slot_search

    patient = _patient(_find_patient(_param(parameters, *FIND_PATIENT)))
    if not patient_in_scope(user, patient.pk):
        raise FhirError(400, "invalid", ERR_NO_PATIENT)  # as if unknown: scope confirms nothing
    atype = _type(_param(parameters, *FIND_TYPE))

    def day(name: str) -> date | None:
        value = _param(parameters, name)
        if not value:
            return None
        try:
            day = date.fromisoformat(str(value)[:10])
            validate_calendar_date(day)
        except (ValueError, ValidationError):
            raise FhirError(400, "invalid", f"{name}: expected a date ({ERR_DATE_RANGE})") from None
        return day

    kwargs: dict[str, Any] = {"date_from": day("start"), "date_to": day("end")}
    location = _reference_id(_param(parameters, *FIND_LOCATION), "Location")
    provider = _reference_id(_param(parameters, "practitioner"), "Practitioner")
    if location:
        kwargs["location"] = location
    if provider:
        kwargs["provider"] = provider
    limit = _param(parameters, "_count")
    result = slot_search(
        patient=patient,
        appointment_type=atype,
        user=user,
        home_region_only=False,
        limit=max(1, min(int(limit), 100)) if isinstance(limit, int) else 30,
        **kwargs,
    )
    proposals = [
        _proposed(
            {
                "start": o.start,
                "end": o.end,
                "slot_id": o.slot_id,
                "provider_id": o.provider_id,
                "provider": o.provider,
                "location_id": o.location_id,
                "location": o.location,
            },
            patient,
            atype,
            "proposed",
        )
        | {"id": proposal_id("proposal", o.slot_id, patient.pk, atype.pk)}
        for o in result.options
    ]
    outcome = None
    if result.excluded:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "information",
                    "code": "informational",
                    "diagnostics": f"{ex.kind} {ex.name}: {'; '.join(ex.reasons)}"[:1000],
                }
                for ex in result.excluded
            ],
        }
    return _bundle(proposals, outcome, base=base)


def hold(*, user: Any, parameters: dict[str, Any], base: str) -> dict[str, Any]:
    """$hold: reserve the proposed appointment's slot for HOLD_MINUTES."""
    from scheduling.services import SchedulingError, hold_place

    resource = _appointment_param(parameters)
    slot, patient, atype = _appointment_parts(resource)
    try:
        # Every unit of a long visit is held, and the patient goes with the hold so the
        # real-time eligibility check starts, exactly as when an agent holds a slot.
        held = hold_place(slot=slot, by=user, patient=patient, appointment_type=atype)
    except SchedulingError as exc:
        raise _scheduling_error(exc) from None
    pending = _proposed(
        {
            "start": slot.start,
            "end": slot.end,
            "slot_id": slot.pk,
            "provider_id": slot.provider_id,
            "provider": str(slot.provider),
            "location_id": slot.location_id,
            "location": slot.location.name,
        },
        patient,
        atype,
        "pending",
    )
    pending["id"] = proposal_id("hold", held.pk, patient.pk, atype.pk)
    pending["identifier"] = [{"system": HOLD_SYSTEM, "value": str(held.pk)}]
    pending["end"] = r.instant(held.slot.start + (atype.duration_minutes * _minute()))
    pending["comment"] = f"held until {r.instant(held.expires_at)}"
    return _bundle([pending], base=base)


def _minute() -> Any:
    from datetime import timedelta

    return timedelta(minutes=1)


def _book(user: Any, resource: dict[str, Any]) -> Appointment:
    from scheduling.services import SchedulingError, appointment_book, hold_place

    slot, patient, atype = _appointment_parts(resource)
    hold_id = next(
        (
            i.get("value")
            for i in resource.get("identifier") or []
            if i.get("system") == HOLD_SYSTEM
        ),
        None,
    )
    reason = _code((resource.get("reasonCode") or [None])[0])
    if reason not in BookReason.values:
        reason = BookReason.NEW_PROBLEM
    try:
        # One transaction: a booking the rules refuse must not leave behind the hold
        # placed for it here (a hold the client placed with $hold is not touched).
        with transaction.atomic():
            hold_pk = parse_id(str(hold_id)) if hold_id else None
            if hold_pk is not None:
                held = Hold.objects.filter(pk=hold_pk, slot=slot).first()
                if held is None:
                    raise FhirError(
                        409, "conflict", "The hold does not exist or is for another slot."
                    )
            else:
                held = hold_place(slot=slot, by=user, patient=patient, appointment_type=atype)
            return appointment_book(
                hold=held,
                patient=patient,
                appointment_type=atype,
                by=user,
                reason=reason,
                channel=Appointment.Channel.FHIR,
            )
    except SchedulingError as exc:
        raise _scheduling_error(exc) from None


def book(*, user: Any, parameters: dict[str, Any], base: str) -> dict[str, Any]:
    """$book: confirm a held (or directly named) slot as a booked appointment."""
    appt = _book(user, _appointment_param(parameters))
    return _bundle([r.appointment_resource(_reload(appt))], base=base)


def appointment_create(*, user: Any, resource: dict[str, Any]) -> dict[str, Any]:
    """POST /Appointment: book the named slot for the patient, rules applied."""
    return r.appointment_resource(_reload(_book(user, resource)))


def _reload(appt: Appointment) -> Appointment:
    return (
        Appointment.objects.select_related("provider", "location", "appointment_type")
        .prefetch_related("slot_links")
        .get(pk=appt.pk)
    )
