"""Attach one patient a location system describes to one hub patient (ADT^A04/A08,
FHIR Patient). See the package docstring for the match order.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from django.db import transaction

from config.crypto.fields import blind_index_of

from ..matching import Demographics, demographics_of, match_score
from ..models import DuplicateCandidate, Patient, PatientIdentifier
from ..phones import normalize_phone
from ..signals import patient_created, patient_updated

# Demographic fields a source system may set; blanks never erase what the hub knows.
_DEMOGRAPHIC_FIELDS = (
    "first_name",
    "middle_name",
    "last_name",
    "date_of_birth",
    "sex",
    "phone",
    "email",
    "address_line",
    "city",
    "state",
    "zip_code",
    "preferred_language",
)


def identifier_index(value: str) -> str:
    return blind_index_of(PatientIdentifier, "value_bidx", value)


def dob_index(day: date) -> str:
    return blind_index_of(Patient, "date_of_birth_bidx", day)


def phone_index(phone: str) -> str:
    return blind_index_of(Patient, "phone_bidx", phone)


@dataclass(frozen=True)
class SourceIdentifier:
    system: str  # assigning authority, e.g. "DEN-EHR"
    value: str
    kind: str = PatientIdentifier.Kind.MRN


@dataclass(frozen=True)
class PatientRecord:
    """A patient as a location system describes it."""

    identifiers: tuple[SourceIdentifier, ...]
    first_name: str
    last_name: str
    date_of_birth: date | None
    middle_name: str = ""
    sex: str = ""
    phone: str = ""
    email: str = ""
    address_line: str = ""
    city: str = ""
    state: str = ""
    zip_code: str = ""
    preferred_language: str = ""
    # The hub's own patient id when the source echoes it (PID-3 with our authority,
    # Patient.identifier urn:carehub:patient): the strongest match of all.
    hub_id: int | None = None

    def demographics(self) -> Demographics:
        return demographics_of(self)


@dataclass
class UpsertResult:
    patient: Patient
    created: bool
    matched_by: str  # "identifier" | "demographics" | "new"
    changed: list[str] = field(default_factory=list)
    possible_duplicates: list[int] = field(default_factory=list)


def _survivor(patient: Patient) -> Patient:
    """Follow merges to the record that is still alive (A40 may have retired this one)."""
    seen = set()
    while patient.merged_into_id is not None and patient.pk not in seen:
        seen.add(patient.pk)
        patient = Patient.objects.get(pk=patient.merged_into_id)
    return patient


def patient_find_by_identifiers(identifiers: tuple[SourceIdentifier, ...]) -> Patient | None:
    for ident in identifiers:
        row = (
            PatientIdentifier.objects.select_related("patient")
            .filter(system=ident.system, value_bidx=identifier_index(ident.value))
            .first()
        )
        if row is not None:
            return _survivor(row.patient)
    return None


def _swapped(dob: date) -> date | None:
    try:
        return date(dob.year, dob.day, dob.month) if dob.day <= 12 else None
    except ValueError:
        return None


def _demographic_match(
    record: PatientRecord, candidates: list[Patient]
) -> tuple[Patient | None, list[tuple[Patient, float, tuple[str, ...]]]]:
    """The candidate sure enough to attach to without a human (highest score wins), and
    the ones only close enough to flag as possible duplicates if a new patient is made."""
    # Normalized once here, not once per candidate inside match_score (stored phones
    # are already in normal form).
    wanted = replace(record.demographics(), phone=normalize_phone(record.phone))
    best: tuple[float, Patient | None] = (0.0, None)
    possible: list[tuple[Patient, float, tuple[str, ...]]] = []
    for candidate in candidates:
        result = match_score(wanted, demographics_of(candidate))
        if result.automatic and result.score > best[0]:
            best = (result.score, candidate)
        elif result.possible:
            possible.append((candidate, result.score, result.reasons))
    return best[1], possible


# How many same-birth-date and same-phone patients are scored at most; the batch path
# reads the same pools.
DOB_POOL = 200
PHONE_POOL = 50


def _candidates(record: PatientRecord) -> list[Patient]:
    """Patients worth scoring: same or day/month-swapped DOB, or the same phone."""
    if record.date_of_birth is None:
        return []
    dobs = [record.date_of_birth]
    swapped = _swapped(record.date_of_birth)
    if swapped and swapped != record.date_of_birth:
        dobs.append(swapped)
    found = {
        p.pk: p
        for p in Patient.objects.filter(
            status=Patient.Status.ACTIVE, date_of_birth_bidx__in=[dob_index(d) for d in dobs]
        )[:DOB_POOL]
    }
    phone = normalize_phone(record.phone)
    if phone:
        for p in Patient.objects.filter(
            status=Patient.Status.ACTIVE, phone_bidx=phone_index(phone)
        )[:PHONE_POOL]:
            found.setdefault(p.pk, p)
    return list(found.values())


def _flag_duplicate(a: Patient, b: Patient, score: float, reasons: tuple[str, ...]) -> None:
    low, high = (a, b) if a.pk < b.pk else (b, a)
    DuplicateCandidate.objects.get_or_create(
        patient_a=low,
        patient_b=high,
        defaults={"score": score, "reason": ", ".join(reasons)[:200]},
    )


def _attach_identifiers(
    patient: Patient, identifiers: tuple[SourceIdentifier, ...], location_id: int | None
) -> None:
    for ident in identifiers:
        row, created = PatientIdentifier.objects.get_or_create(
            system=ident.system,
            value_bidx=identifier_index(ident.value),
            defaults={
                "patient": patient,
                "value": ident.value,
                "kind": ident.kind,
                "location_id": location_id,
            },
        )
        if not created and row.patient_id != patient.pk:
            other = _survivor(row.patient)
            if other.pk != patient.pk:
                # One source id on two hub records: a human must decide, never guess.
                _flag_duplicate(patient, other, 1.0, ("same source identifier",))


def _record_values(record: PatientRecord) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in _DEMOGRAPHIC_FIELDS:
        value = getattr(record, name)
        if value in ("", None):
            continue
        if name == "phone":
            value = normalize_phone(value)[:15]
        values[name] = value
    if values.get("sex") not in {None, *Patient.Sex.values}:
        values["sex"] = Patient.Sex.UNKNOWN
    return values


@transaction.atomic
def patient_upsert_from_source(
    *,
    record: PatientRecord,
    location_id: int | None = None,
    origin_connector_id: int | None = None,
) -> UpsertResult:
    """Create or update the hub patient a location system is talking about.

    Idempotent: sending the same record twice changes nothing the second time and
    writes no second outbox event.
    """
    values = _record_values(record)
    patient = None
    if record.hub_id is not None:
        known = Patient.objects.filter(pk=record.hub_id).first()
        patient = _survivor(known) if known is not None else None
    patient = patient or patient_find_by_identifiers(record.identifiers)
    matched_by = "identifier"
    possible: list[tuple[Patient, float, tuple[str, ...]]] = []
    if patient is None:
        patient, possible = _demographic_match(record, _candidates(record))
        matched_by = "new" if patient is None else "demographics"
    if patient is None:
        if record.date_of_birth is None or not record.first_name or not record.last_name:
            raise ValueError("a new patient needs a first name, last name and date of birth")
        patient = Patient.objects.create(home_location_id=location_id, **values)
        _attach_identifiers(patient, record.identifiers, location_id)
        for other, score, reasons in possible:
            _flag_duplicate(patient, other, score, reasons)
        patient_created.send(
            sender=Patient,
            patient=patient,
            location_id=location_id,
            origin_connector_id=origin_connector_id,
        )
        return UpsertResult(
            patient=patient,
            created=True,
            matched_by="new",
            possible_duplicates=[p.pk for p, _, _ in possible],
        )
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    changed = [name for name, value in values.items() if getattr(patient, name) != value]
    for name in changed:
        setattr(patient, name, values[name])
    if changed:
        patient.save(update_fields=[*changed, "updated_at"])
        patient_updated.send(
            sender=Patient,
            patient=patient,
            location_id=location_id,
            origin_connector_id=origin_connector_id,
        )
    _attach_identifiers(patient, record.identifiers, location_id)
    return UpsertResult(patient=patient, created=False, matched_by=matched_by, changed=changed)
