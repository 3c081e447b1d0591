"""FHIR R4 AllergyIntolerance, Condition and Flag from a location EHR -> clinical facts.

Status follows the resource's own status elements, so what the EHR resolves, refutes or
marks entered-in-error stops applying to routing:
- AllergyIntolerance: ``clinicalStatus`` (active | inactive | resolved) and
  ``verificationStatus`` (… | refuted | entered-in-error),
  https://hl7.org/fhir/R4/allergyintolerance.html
- Condition: ``clinicalStatus`` (active | recurrence | relapse | inactive | remission |
  resolved) and ``verificationStatus``, https://hl7.org/fhir/R4/condition.html
- Flag: ``status`` (active | inactive | entered-in-error) and an ended ``period``,
  https://hl7.org/fhir/R4/flag.html
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from integrations.hl7v2.fields import MappingError
from patients.clinical import ClinicalFactRecord, clinical_fact_record

from .references import fhir_instant, patient_for

if TYPE_CHECKING:
    from integrations.models import Connector

ACTIVE, RESOLVED, INACTIVE, IN_ERROR = "active", "resolved", "inactive", "entered_in_error"
# Code systems preferred when a concept carries several codings: the mapping table is
# usually written in SNOMED CT or ICD-10-CM.
PREFERRED_SYSTEMS = (
    "http://snomed.info/sct",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10",
)
CONDITION_ACTIVE = {"active", "recurrence", "relapse"}
# Conditions of these categories are the patient's standing problems; an encounter
# diagnosis is applied to billing with its Encounter instead.
STANDING_CATEGORIES = {"problem-list-item", "health-concern"}
ERR_NO_CODE = "the resource has no code to record"


def _status_code(element: dict[str, Any] | None) -> str:
    for coding in (element or {}).get("coding", []):
        if coding.get("code"):
            return str(coding["code"])
    return ""


def _concept(element: dict[str, Any] | None) -> tuple[str, str, str]:
    """(code, system, text) of a CodeableConcept, preferring the mapping table's systems."""
    element = element or {}
    codings = [c for c in element.get("coding", []) if c.get("code")]
    codings.sort(
        key=lambda c: (
            PREFERRED_SYSTEMS.index(c.get("system"))
            if c.get("system") in PREFERRED_SYSTEMS
            else len(PREFERRED_SYSTEMS)
        )
    )
    if not codings:
        if element.get("text"):
            return "", "", str(element["text"])
        raise MappingError(ERR_NO_CODE)
    first = codings[0]
    text = element.get("text") or first.get("display") or ""
    return str(first["code"])[:40], str(first.get("system", ""))[:200], str(text)[:200]


def _when(resource: dict[str, Any], *fields: str) -> datetime:
    for name in fields:
        value = resource.get(name)
        if isinstance(value, str) and "T" in value:
            return fhir_instant(value)
    updated = resource.get("meta", {}).get("lastUpdated")
    return fhir_instant(updated) if updated else timezone.now()


def _verified_status(resource: dict[str, Any], clinical: str, active_codes: set[str]) -> str:
    verification = _status_code(resource.get("verificationStatus"))
    if verification == "entered-in-error":
        return IN_ERROR
    if verification == "refuted":
        return INACTIVE
    if not clinical or clinical in active_codes:
        return ACTIVE
    return RESOLVED if clinical in {"resolved", "remission"} else INACTIVE


def _record(resource: dict[str, Any], connector: Connector, patient_ref: Any) -> str:
    kind, status, concept, when = _read(resource)
    code, system, text = _concept(concept)
    patient = patient_for(patient_ref, connector)
    record = ClinicalFactRecord(
        source_system=connector.name[:60],
        record_id=f"{resource['resourceType']}/{resource.get('id', '')}",
        kind=kind,
        code=code,
        code_system=system,
        description=text,
        status=status,
        recorded_at=when,
        origin_connector_id=connector.pk,
        source_location_id=connector.location_id,
    )
    fact = clinical_fact_record(patient=patient, record=record)
    if fact is None:
        return f"{resource['resourceType']} older than the hub's copy; unchanged"
    return f"clinical fact #{fact.pk} {fact.status}"


def _read(resource: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None, datetime]:
    kind = resource["resourceType"]
    if kind == "AllergyIntolerance":
        clinical = _status_code(resource.get("clinicalStatus"))
        status = _verified_status(resource, clinical, {"active"})
        return "allergy", status, resource.get("code"), _when(resource, "recordedDate")
    if kind == "Condition":
        clinical = _status_code(resource.get("clinicalStatus"))
        status = _verified_status(resource, clinical, CONDITION_ACTIVE)
        return "condition", status, resource.get("code"), _when(resource, "recordedDate")
    # Flag
    status = {"active": ACTIVE, "entered-in-error": IN_ERROR}.get(
        str(resource.get("status")), INACTIVE
    )
    end = resource.get("period", {}).get("end")
    ended = isinstance(end, str) and "T" in end and fhir_instant(end) <= timezone.now()
    if status == ACTIVE and ended:
        status = INACTIVE
    return "alert", status, resource.get("code"), _when(resource)


def is_standing_condition(resource: dict[str, Any]) -> bool:
    """A problem-list Condition (or one tied to no encounter) is a standing fact about the
    patient; an encounter diagnosis goes to billing with its Encounter."""
    categories = {
        str(c.get("code")) for cat in resource.get("category", []) for c in cat.get("coding", [])
    }
    if categories & STANDING_CATEGORIES:
        return True
    return not resource.get("encounter")


def handle_allergy(resource: dict[str, Any], connector: Connector) -> str:
    return _record(resource, connector, resource.get("patient", {}))


def handle_condition(resource: dict[str, Any], connector: Connector) -> str:
    if not is_standing_condition(resource):
        return "applied with its Encounter"
    return _record(resource, connector, resource.get("subject", {}))


def handle_flag(resource: dict[str, Any], connector: Connector) -> str:
    return _record(resource, connector, resource.get("subject", {}))
