"""ADT (HL7 v2.5.1 chapter 3): patient registration and update (A04/A08) and merge (A40).

The mapper turns a PID into a ``patients.mpi.PatientRecord``; the handlers hand it to the
master patient index. The worker's set-based ADT run calls ``record_of`` for a whole run
and ``patients.mpi.patient_upsert_batch`` once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patients.models import Patient
from patients.mpi import (
    PatientRecord,
    patient_find_by_identifiers,
    patient_merge,
    patient_upsert_from_source,
)

from .fields import MappingError, identifiers_from, parse_or_reject, patient_record
from .reader import ParsedMessage

if TYPE_CHECKING:
    from integrations.models import Connector

ERR_PRIOR_UNKNOWN = "MRG-1 prior patient is unknown to the hub"


def record_of(raw: str, connector: Connector) -> PatientRecord:
    """The PatientRecord of a stored ADT^A04/A08 (the worker's set-based run)."""
    return patient_record(parse_or_reject(raw), connector)


def handle_adt_upsert(message: ParsedMessage, connector: Connector) -> str:
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
