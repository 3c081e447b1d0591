"""ADT (HL7 v2.5.1 chapter 3): registration and update (A04/A08), merges (A34/A36/A39/A40).

The mapper turns a PID into a ``patients.mpi.PatientRecord``; the handlers hand it to the
master patient index. The worker's set-based ADT run calls ``record_of`` for a whole run
and ``patients.mpi.patient_upsert_batch`` once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from patients.models import Patient
from patients.mpi import (
    PatientRecord,
    SourceIdentifier,
    patient_find_by_identifiers,
    patient_merge,
    patient_upsert_from_source,
)

from .clinical import apply_facts
from .fields import (
    MappingError,
    identifiers_from,
    parse_or_reject,
    patient_record,
    patient_record_of,
)
from .reader import ParsedMessage, Segment

if TYPE_CHECKING:
    from integrations.models import Connector

ERR_PATIENT_UNKNOWN = "PID-3 names no patient the hub knows; send the A04 or A28 first"
ERR_PRIOR_UNKNOWN = "MRG-1 prior patient is unknown to the hub"
ERR_NO_MRG = "merge message carries no MRG segment"
ERR_MRG_WITHOUT_PID = "MRG segment without the PID of its surviving patient before it"
ERR_NO_PRIOR = "MRG-1 prior patient identifier list (or v2.3 MRG-4 prior patient ID) is empty"


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
    facts = apply_facts(message, connector, result.patient)
    return f"patient #{result.patient.pk} {how}" + (f"; {facts} clinical facts" if facts else "")


def handle_adt_allergies(message: ParsedMessage, connector: Connector) -> str:
    """ADT^A60 (update allergy information): the patient's IAM segments, for a patient
    the hub already knows; demographics are not taken from it."""
    record = patient_record(message, connector)
    patient = patient_find_by_identifiers(record.identifiers)
    if patient is None:
        raise MappingError(ERR_PATIENT_UNKNOWN)
    return f"patient #{patient.pk}: {apply_facts(message, connector, patient)} clinical facts"


def _merge_pairs(message: ParsedMessage) -> list[tuple[Segment, Segment]]:
    """Each PID with the MRG that follows it. A40/A39 repeat the PATIENT group (PID,
    [PD1], MRG, [PV1]) to merge several records in one message (v2.5.1 ch. 3 §3.3.39,
    §3.3.40); A34 and A36 carry one."""
    pairs: list[tuple[Segment, Segment]] = []
    pid: Segment | None = None
    for segment in message.segments:
        if segment.id == "PID":
            pid = segment
        elif segment.id == "MRG":
            if pid is None:
                raise MappingError(ERR_MRG_WITHOUT_PID)
            pairs.append((pid, segment))
            pid = None
    if not pairs:
        raise MappingError(ERR_NO_MRG)
    return pairs


def _prior_identifiers(mrg: Segment, default_system: str) -> tuple[SourceIdentifier, ...]:
    """MRG-1 (prior patient identifier list); v2.3-era A34/A39 senders put the prior id in
    MRG-4 (prior patient ID, external) instead, withdrawn since 2.7."""
    prior = identifiers_from(mrg, 1, default_system) or identifiers_from(mrg, 4, default_system)
    if not prior:
        raise MappingError(ERR_NO_PRIOR)
    return prior


def handle_adt_merge(message: ParsedMessage, connector: Connector) -> str:
    """ADT^A34/A36/A39/A40: each PID is a surviving patient, the MRG after it names the
    record that goes away. All pairs of one message apply together or not at all."""
    default_system = connector.identifier_system or connector.sending_application
    notes = []
    pairs = _merge_pairs(message)
    # Read every pair before changing anything, so a refusal names what is missing and
    # leaves no half-applied message behind.
    priors = [_prior_identifiers(mrg, default_system) for _, mrg in pairs]
    records = [patient_record_of(pid, connector) for pid, _ in pairs]
    for record, prior in zip(records, priors, strict=True):
        survivor = patient_upsert_from_source(
            record=record,
            location_id=connector.location_id,
            origin_connector_id=connector.pk,
        ).patient
        merged = patient_find_by_identifiers(prior)
        if merged is None:
            raise MappingError(ERR_PRIOR_UNKNOWN)
        if merged.pk == survivor.pk:
            notes.append(f"patient #{survivor.pk} already merged")
            continue
        if merged.status != Patient.Status.ACTIVE:
            raise MappingError("MRG-1 prior patient is not active")
        merge = patient_merge(survivor=survivor, merged=merged, origin_connector_id=connector.pk)
        notes.append(f"merge #{merge.pk}")
    return "; ".join(notes)
