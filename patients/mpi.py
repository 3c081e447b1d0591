"""The master patient index: attach what location systems send to one hub patient.

Inbound ADT and FHIR Patient both arrive here as a plain ``PatientRecord``. The match
order is the one registries use: an identifier the hub already knows wins outright;
otherwise demographics are scored with ``patients.matching`` (the same rule as the
console's duplicate check). A near-certain match attaches; a possible one creates a
new record and flags the pair for a human, because a wrong automatic merge of two
people's charts is worse than a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from integrations.outbox import PATIENT_CREATED, PATIENT_UPDATED, outbox_enqueue

from .matching import Demographics, match_score, normalize_phone
from .models import Coverage, DuplicateCandidate, Patient, PatientIdentifier, PatientMerge

ERR_MERGE_SELF = "A patient cannot be merged into itself."
ERR_MERGE_INACTIVE = "Both patients must be active to merge."
ERR_UNMERGE_DONE = "This merge has already been reversed."

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
        return Demographics(
            first_name=self.first_name,
            last_name=self.last_name,
            date_of_birth=self.date_of_birth,
            phone=self.phone,
            zip_code=self.zip_code,
            sex=self.sex,
        )


@dataclass
class UpsertResult:
    patient: Patient
    created: bool
    matched_by: str  # "identifier" | "demographics" | "new"
    changed: list[str] = field(default_factory=list)
    possible_duplicates: list[int] = field(default_factory=list)


def _demographics_of(patient: Patient) -> Demographics:
    return Demographics(
        first_name=patient.first_name,
        last_name=patient.last_name,
        date_of_birth=patient.date_of_birth,
        phone=patient.phone,
        zip_code=patient.zip_code,
        sex=patient.sex,
    )


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
            .filter(system=ident.system, value=ident.value)
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
        for p in Patient.objects.filter(status=Patient.Status.ACTIVE, date_of_birth__in=dobs)[:200]
    }
    phone = normalize_phone(record.phone)
    if phone:
        for p in Patient.objects.filter(status=Patient.Status.ACTIVE, phone=phone)[:50]:
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
            value=ident.value,
            defaults={"patient": patient, "kind": ident.kind, "location_id": location_id},
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
    origin = {"origin_connector_id": origin_connector_id} if origin_connector_id else {}
    values = _record_values(record)
    patient = None
    if record.hub_id is not None:
        known = Patient.objects.filter(pk=record.hub_id).first()
        patient = _survivor(known) if known is not None else None
    patient = patient or patient_find_by_identifiers(record.identifiers)
    matched_by = "identifier"
    possible: list[tuple[Patient, float, tuple[str, ...]]] = []
    if patient is None:
        matched_by = "new"
        best: tuple[float, Patient | None, tuple[str, ...]] = (0.0, None, ())
        for candidate in _candidates(record):
            result = match_score(record.demographics(), _demographics_of(candidate))
            if result.automatic and result.score > best[0]:
                best = (result.score, candidate, result.reasons)
            elif result.possible:
                possible.append((candidate, result.score, result.reasons))
        if best[1] is not None:
            patient, matched_by = best[1], "demographics"
    if patient is None:
        if record.date_of_birth is None or not record.first_name or not record.last_name:
            raise ValueError("a new patient needs a first name, last name and date of birth")
        patient = Patient.objects.create(home_location_id=location_id, **values)
        _attach_identifiers(patient, record.identifiers, location_id)
        for other, score, reasons in possible:
            _flag_duplicate(patient, other, score, reasons)
        outbox_enqueue(
            event_type=PATIENT_CREATED,
            aggregate_type="patient",
            aggregate_id=patient.pk,
            location_id=location_id,
            payload=origin,
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
        outbox_enqueue(
            event_type=PATIENT_UPDATED,
            aggregate_type="patient",
            aggregate_id=patient.pk,
            location_id=location_id,
            payload=origin,
        )
    _attach_identifiers(patient, record.identifiers, location_id)
    return UpsertResult(patient=patient, created=False, matched_by=matched_by, changed=changed)


@transaction.atomic
def patient_merge(
    *, survivor: Patient, merged: Patient, by: Any = None, origin_connector_id: int | None = None
) -> PatientMerge:
    """Fold ``merged`` into ``survivor`` (ADT^A40): appointments, coverage, identifiers,
    clinical facts, waitlist entries and calls move; the snapshot lets it be undone.
    """
    if survivor.pk == merged.pk:
        raise ValueError(ERR_MERGE_SELF)
    survivor, merged = (
        Patient.objects.select_for_update().get(pk=survivor.pk),
        Patient.objects.select_for_update().get(pk=merged.pk),
    )
    if survivor.status != Patient.Status.ACTIVE or merged.status != Patient.Status.ACTIVE:
        raise ValueError(ERR_MERGE_INACTIVE)
    from billing.models import Encounter
    from scheduling.models import Appointment, Call, Waitlist

    snapshot: dict[str, list[int]] = {
        "appointments": list(merged.appointments.values_list("pk", flat=True)),
        "identifiers": list(merged.identifiers.values_list("pk", flat=True)),
        "clinical_facts": list(merged.clinical_facts.values_list("pk", flat=True)),
        "waitlist": list(merged.waitlist_entries.values_list("pk", flat=True)),
        "calls": list(merged.calls.values_list("pk", flat=True)),
        "encounters": list(Encounter.objects.filter(patient=merged).values_list("pk", flat=True)),
        "coverages": list(merged.coverages.values_list("pk", flat=True)),
        "coverages_deactivated": [],
    }
    # The survivor keeps its own active coverage at a priority both have.
    taken = set(survivor.coverages.filter(active=True).values_list("priority", flat=True))
    clash = list(
        merged.coverages.filter(active=True, priority__in=taken).values_list("pk", flat=True)
    )
    Coverage.objects.filter(pk__in=clash).update(active=False)
    snapshot["coverages_deactivated"] = clash
    Appointment.objects.filter(pk__in=snapshot["appointments"]).update(patient=survivor)
    PatientIdentifier.objects.filter(pk__in=snapshot["identifiers"]).update(patient=survivor)
    merged.clinical_facts.update(patient=survivor)
    Waitlist.objects.filter(pk__in=snapshot["waitlist"]).update(patient=survivor)
    Call.objects.filter(pk__in=snapshot["calls"]).update(patient=survivor)
    Encounter.objects.filter(pk__in=snapshot["encounters"]).update(patient=survivor)
    Coverage.objects.filter(pk__in=snapshot["coverages"]).update(patient=survivor)
    merged.status = Patient.Status.MERGED
    merged.merged_into = survivor
    merged.save(update_fields=["status", "merged_into", "updated_at"])
    low, high = sorted([survivor.pk, merged.pk])
    DuplicateCandidate.objects.filter(patient_a_id=low, patient_b_id=high).update(
        status=DuplicateCandidate.Status.MERGED
    )
    merge = PatientMerge.objects.create(
        survivor=survivor,
        merged=merged,
        snapshot=snapshot,
        merged_by=by if getattr(by, "pk", None) else None,
        merged_at=timezone.now(),
    )
    outbox_enqueue(
        event_type=PATIENT_UPDATED,
        aggregate_type="patient",
        aggregate_id=survivor.pk,
        location_id=survivor.home_location_id,
        payload={
            "merged_id": merged.pk,
            **({"origin_connector_id": origin_connector_id} if origin_connector_id else {}),
        },
    )
    return merge


@transaction.atomic
def patient_unmerge(*, merge: PatientMerge, by: Any = None) -> Patient:
    """Reverse a merge exactly: the rows that moved go back, the record lives again."""
    merge = PatientMerge.objects.select_for_update().get(pk=merge.pk)
    if merge.reversed_at is not None:
        raise ValueError(ERR_UNMERGE_DONE)
    from billing.models import Encounter
    from scheduling.models import Appointment, Call, Waitlist

    from .models import ClinicalFact

    snap = merge.snapshot
    merged = Patient.objects.select_for_update().get(pk=merge.merged_id)
    Appointment.objects.filter(pk__in=snap.get("appointments", [])).update(patient=merged)
    PatientIdentifier.objects.filter(pk__in=snap.get("identifiers", [])).update(patient=merged)
    ClinicalFact.objects.filter(pk__in=snap.get("clinical_facts", [])).update(patient=merged)
    Waitlist.objects.filter(pk__in=snap.get("waitlist", [])).update(patient=merged)
    Call.objects.filter(pk__in=snap.get("calls", [])).update(patient=merged)
    Encounter.objects.filter(pk__in=snap.get("encounters", [])).update(patient=merged)
    Coverage.objects.filter(pk__in=snap.get("coverages", [])).update(patient=merged)
    Coverage.objects.filter(pk__in=snap.get("coverages_deactivated", [])).update(active=True)
    merged.status = Patient.Status.ACTIVE
    merged.merged_into = None
    merged.save(update_fields=["status", "merged_into", "updated_at"])
    merge.reversed_at = timezone.now()
    merge.save(update_fields=["reversed_at"])
    for pk in (merge.survivor_id, merged.pk):
        outbox_enqueue(
            event_type=PATIENT_UPDATED,
            aggregate_type="patient",
            aggregate_id=pk,
            location_id=merged.home_location_id,
            payload={"unmerged": merge.pk},
        )
    return merged
