"""Domain rows -> FHIR R4 resources (plain dicts shaped per hl7.org/fhir/R4).

Every resource built here is validated against fhir.resources' R4B models in the
conformance tests; the server also validates before answering (``validated``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

HUB_SYSTEM = "urn:carehub"
PATIENT_SYSTEM = "urn:carehub:patient"
APPOINTMENT_SYSTEM = "urn:carehub:appointment"
SERIES_SYSTEM = "urn:carehub:appointment-series"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
PARTICIPATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
SERVICE_TYPE_SYSTEM = "urn:carehub:appointment-type"
SOURCE_SYSTEM_PREFIX = "urn:carehub:source:"


def source_system(assigning_authority: str) -> str:
    """identifier.system for an identifier a feed assigned (HL7 CX-4, e.g. "TEC MRN").

    identifier.system is a uri (datatypes.html#uri: no whitespace; RFC 3986 characters
    only), so the authority is percent-encoded: "TEC MRN" -> urn:carehub:source:TEC%20MRN.
    """
    return SOURCE_SYSTEM_PREFIX + quote(assigning_authority, safe="")


def source_authority(system: str) -> str | None:
    """The assigning authority a source_system() names; None for any other system. A
    raw (unencoded) authority is accepted too, as a search client may send either."""
    if not system.startswith(SOURCE_SYSTEM_PREFIX):
        return None
    return unquote(system.removeprefix(SOURCE_SYSTEM_PREFIX))


# Hub appointment status -> FHIR AppointmentStatus (R4 valueset appointmentstatus).
APPOINTMENT_STATUS = {
    "booked": "booked",
    "arrived": "arrived",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "rescheduled": "cancelled",
}
GENDER = {"F": "female", "M": "male", "O": "other", "U": "unknown"}


def instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _meta(updated: datetime | None) -> dict[str, Any]:
    return {"lastUpdated": instant(updated)} if updated else {}


def patient_resource(patient: Any) -> dict[str, Any]:
    identifiers: list[dict[str, Any]] = [
        {"use": "official", "system": PATIENT_SYSTEM, "value": str(patient.pk)}
    ]
    for ident in patient.identifiers.all():
        identifiers.append(
            {
                "system": source_system(ident.system),
                "value": ident.value,
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                            "code": ident.kind,
                        }
                    ]
                },
            }
        )
    name: dict[str, Any] = {"family": patient.last_name, "given": [patient.first_name]}
    if patient.middle_name:
        name["given"].append(patient.middle_name)
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": _meta(patient.updated_at),
        "identifier": identifiers,
        "active": patient.status == "active",
        "name": [name],
        "gender": GENDER.get(patient.sex, "unknown"),
        "birthDate": patient.date_of_birth.isoformat(),
    }
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone, "use": "home"})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        resource["telecom"] = telecom
    if patient.address_line or patient.zip_code:
        resource["address"] = [
            {
                k: v
                for k, v in {
                    "line": [patient.address_line] if patient.address_line else None,
                    "city": patient.city or None,
                    "state": patient.state or None,
                    "postalCode": patient.zip_code or None,
                    "country": "US",
                }.items()
                if v
            }
        ]
    if patient.preferred_language:
        resource["communication"] = [
            {
                "language": {
                    "coding": [{"system": "urn:ietf:bcp:47", "code": patient.preferred_language}]
                },
                "preferred": True,
            }
        ]
    if patient.merged_into_id:
        resource["link"] = [
            {"other": {"reference": f"Patient/{patient.merged_into_id}"}, "type": "replaced-by"}
        ]
    return resource


def practitioner_resource(provider: Any) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": str(provider.pk),
        "identifier": [{"system": NPI_SYSTEM, "value": provider.npi}],
        "active": provider.active,
        "name": [
            {
                "family": provider.last_name,
                "given": [provider.first_name],
                **({"suffix": [provider.credential]} if provider.credential else {}),
            }
        ],
    }


def location_resource(location: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": str(location.pk),
        "identifier": [{"system": f"{HUB_SYSTEM}:location", "value": location.code}],
        "status": "active" if location.active else "inactive",
        "name": location.name,
        "address": {
            k: v
            for k, v in {
                "line": [location.address_line] if location.address_line else None,
                "city": location.city or None,
                "state": location.state or None,
                "postalCode": location.zip_code or None,
            }.items()
            if v
        },
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/timezone",
                "valueCode": location.time_zone,
            }
        ],
    }
    if location.phone:
        resource["telecom"] = [{"system": "phone", "value": location.phone}]
    if location.latitude is not None and location.longitude is not None:
        resource["position"] = {"latitude": location.latitude, "longitude": location.longitude}
    if not resource["address"]:
        del resource["address"]
    return resource


def schedule_id(provider_id: int, location_id: int) -> str:
    """A Schedule is one provider's book at one location: "<provider>-<location>"."""
    return f"{provider_id}-{location_id}"


def schedule_resource(provider: Any, location: Any) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": schedule_id(provider.pk, location.pk),
        "active": provider.active and location.active,
        "actor": [
            {"reference": f"Practitioner/{provider.pk}", "display": str(provider)},
            {"reference": f"Location/{location.pk}", "display": location.name},
        ],
    }


def slot_resource(slot: Any, *, busy: bool | None = None) -> dict[str, Any]:
    status = {"free": "free", "booked": "busy", "blocked": "busy-unavailable"}[slot.status]
    if busy:
        status = "busy"
    return {
        "resourceType": "Slot",
        "id": str(slot.pk),
        "schedule": {"reference": f"Schedule/{schedule_id(slot.provider_id, slot.location_id)}"},
        "status": status,
        "start": instant(slot.start),
        "end": instant(slot.end),
    }


def appointment_resource(appt: Any, *, external: bool = False) -> dict[str, Any]:
    """The hub's appointment. ``external``: for another server, where our ids mean
    nothing, actors are logical references by business identifier (NPI, codes).
    """
    atype = appt.appointment_type
    if external:
        patient_ref: dict[str, Any] = {
            "identifier": {"system": PATIENT_SYSTEM, "value": str(appt.patient_id)}
        }
        provider_ref: dict[str, Any] = {
            "identifier": {"system": NPI_SYSTEM, "value": appt.provider.npi}
        }
        location_ref: dict[str, Any] = {
            "identifier": {"system": f"{HUB_SYSTEM}:location", "value": appt.location.code}
        }
    else:
        patient_ref = {"reference": f"Patient/{appt.patient_id}"}
        provider_ref = {"reference": f"Practitioner/{appt.provider_id}"}
        location_ref = {"reference": f"Location/{appt.location_id}"}
    participants: list[dict[str, Any]] = [
        {"actor": patient_ref, "status": "accepted"},
        {"actor": {**provider_ref, "display": str(appt.provider)}, "status": "accepted"},
        {"actor": {**location_ref, "display": appt.location.name}, "status": "accepted"},
    ]
    assistant = appt.assistant if getattr(appt, "assistant_id", None) else None
    if assistant is not None:
        # The hygienist or assistant a two-resource visit books, as the secondary
        # performer (the provider stays the first practitioner, as receivers expect).
        assistant_ref = (
            {"identifier": {"system": NPI_SYSTEM, "value": assistant.npi}}
            if external
            else {"reference": f"Practitioner/{assistant.pk}"}
        )
        participants.append(
            {
                "type": [{"coding": [{"system": PARTICIPATION_TYPE_SYSTEM, "code": "SPRF"}]}],
                "actor": {**assistant_ref, "display": str(assistant)},
                "status": "accepted",
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": str(appt.pk),
        "meta": _meta(appt.updated_at),
        "identifier": [{"system": APPOINTMENT_SYSTEM, "value": str(appt.pk)}],
        "status": APPOINTMENT_STATUS.get(appt.status, "booked"),
        "serviceType": [
            {"coding": [{"system": SERVICE_TYPE_SYSTEM, "code": atype.code, "display": atype.name}]}
        ],
        "start": instant(appt.start),
        "end": instant(appt.end),
        "minutesDuration": int((appt.end - appt.start).total_seconds() // 60),
        "created": instant(appt.created_at),
        "participant": participants,
    }
    if appt.series_id:
        # R4/R4B Appointment has no series element (R5 adds recurrenceId and friends), so
        # the recurring series travels as a second business identifier.
        resource["identifier"].append({"system": SERIES_SYSTEM, "value": str(appt.series_id)})
    if appt.cancel_reason:
        resource["cancelationReason"] = {"text": appt.get_cancel_reason_display()}
    if getattr(appt, "video_link", ""):
        # R4B has no virtualService (R5 added it). patientInstruction is the element R4
        # receivers already pass on to the patient (portal, letters), and joining the call
        # is the patient's instruction; ``comment`` is for staff and is often not shown.
        resource["patientInstruction"] = f"Join by video: {appt.video_link}"
    if getattr(appt, "overbooked", False):
        resource["comment"] = "Overbooked (deliberate double-booking)"
    if external:
        del resource["id"]
        resource.pop("meta", None)
        return resource
    slot_ids = [link.slot_id for link in appt.slot_links.all()]
    if slot_ids:
        resource["slot"] = [{"reference": f"Slot/{sid}"} for sid in slot_ids]
    return resource


def validated(resource: dict[str, Any]) -> dict[str, Any]:
    """Check a resource against the R4B model before it leaves the hub; raise if invalid."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource
