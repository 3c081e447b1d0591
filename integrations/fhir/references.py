"""What the inbound FHIR handlers share: the connector's identifier system, FHIR instants,
and the hub patient a resource's ``Patient/<id>`` reference names."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from integrations.hl7v2.fields import MappingError
from patients.mpi import SourceIdentifier

if TYPE_CHECKING:
    from integrations.models import Connector
    from patients.models import Patient

ERR_PATIENT_UNKNOWN = "the resource's patient is unknown to the hub (poll the Patient first)"


def connector_system(connector: Connector) -> str:
    return connector.identifier_system or f"FHIR{connector.pk}"


def fhir_instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"invalid FHIR instant {value[:30]}") from None
    if moment.tzinfo is None:
        raise MappingError("FHIR instant without a time zone")
    return moment


def patient_for(ref: dict[str, Any] | str, connector: Connector) -> Patient:
    from patients.mpi import patient_find_by_identifiers

    reference = ref if isinstance(ref, str) else ref.get("reference", "")
    if not reference.startswith("Patient/"):
        raise MappingError(ERR_PATIENT_UNKNOWN)
    found = patient_find_by_identifiers(
        (SourceIdentifier(system=connector_system(connector), value=reference.split("/", 1)[1]),)
    )
    if found is None:
        raise MappingError(ERR_PATIENT_UNKNOWN)
    return found
