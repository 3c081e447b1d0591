"""The master patient index: attach what location systems send to one hub patient.

Inbound ADT and FHIR Patient both arrive here as a plain ``PatientRecord``. The match
order is the one registries use: an identifier the hub already knows wins outright;
otherwise demographics are scored with ``patients.matching`` (the same rule as the
console's duplicate check). A near-certain match attaches; a possible one creates a
new record and flags the pair for a human, because a wrong automatic merge of two
people's charts is worse than a duplicate.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from config.audit import bulk_audit_possible, log_entries_write, log_entry_for
from integrations.outbox import (
    PATIENT_CREATED,
    PATIENT_UPDATED,
    Outgoing,
    outbox_enqueue,
    outbox_enqueue_many,
)

from .matching import Demographics, demographics_of, match_score
from .models import Coverage, DuplicateCandidate, Patient, PatientIdentifier, PatientMerge
from .phones import normalize_phone

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


def _demographic_match(
    record: PatientRecord, candidates: list[Patient]
) -> tuple[Patient | None, list[tuple[Patient, float, tuple[str, ...]]]]:
    """The candidate sure enough to attach to without a human (highest score wins), and
    the ones only close enough to flag as possible duplicates if a new patient is made."""
    wanted = record.demographics()
    best: tuple[float, Patient | None] = (0.0, None)
    possible: list[tuple[Patient, float, tuple[str, ...]]] = []
    for candidate in candidates:
        result = match_score(wanted, demographics_of(candidate))
        if result.automatic and result.score > best[0]:
            best = (result.score, candidate)
        elif result.possible:
            possible.append((candidate, result.score, result.reasons))
    return best[1], possible


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
        patient, possible = _demographic_match(record, _candidates(record))
        matched_by = "new" if patient is None else "demographics"
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


# -- set-based upsert for a worker's batch ------------------------------------------------
class StaleBatch(Exception):
    """A patient the batch read changed before it was locked: apply one by one instead."""


@dataclass
class BatchItem:
    record: PatientRecord
    location_id: int | None
    origin_connector_id: int | None


def patient_upsert_batch(items: list[BatchItem]) -> list[UpsertResult | ValueError]:
    """``patient_upsert_from_source`` for many records at once, with the same effects.

    A handful of statements for the whole batch instead of ~14 per record: identifiers
    and demographic candidates are read in one query each, the decisions are made in
    memory in arrival order (a later record sees what an earlier one created or changed),
    the touched patients are locked and re-checked, then patients, identifiers, auditlog
    entries and outbox events are written with bulk_create/bulk_update. A record that
    cannot be applied gets its ValueError back and has no effect. Raises StaleBatch (or
    a database error) when the batch must be retried one record at a time; the caller
    runs this inside a savepoint so nothing of it remains then.
    """
    from auditlog.models import LogEntry

    if not bulk_audit_possible():
        raise StaleBatch("auditlog hooks are active")
    # 1. Every identifier and echoed hub id of the batch, in two queries.
    ident_values = {i.value for item in items for i in item.record.identifiers}
    by_ident: dict[tuple[str, str], PatientIdentifier] = {
        (row.system, row.value): row
        for row in PatientIdentifier.objects.select_related("patient").filter(
            value__in=ident_values
        )
    }
    hub_ids = {item.record.hub_id for item in items if item.record.hub_id is not None}
    by_pk: dict[int, Patient] = {p.pk: p for p in Patient.objects.filter(pk__in=hub_ids)}
    for stored in by_ident.values():
        by_pk.setdefault(stored.patient_id, stored.patient)
        stored.patient = by_pk[stored.patient_id]

    def survivor(patient: Patient) -> Patient:
        if patient.merged_into_id is None:
            return patient
        alive = _survivor(patient)  # rare: a retired record, followed row by row
        return by_pk.setdefault(alive.pk, alive)

    def known(record: PatientRecord) -> Patient | None:
        if record.hub_id is not None and record.hub_id in by_pk:
            return survivor(by_pk[record.hub_id])
        for ident in record.identifiers:
            row = by_ident.get((ident.system, ident.value))
            if row is not None:
                return survivor(row.patient) if row.patient.pk else row.patient
        return None

    # 2. Demographic candidates of the records no identifier resolves, in one query.
    dobs: set[date] = set()
    phones: set[str] = set()
    for item in items:
        if known(item.record) is None and item.record.date_of_birth is not None:
            dobs.add(item.record.date_of_birth)
            swapped = _swapped(item.record.date_of_birth)
            if swapped:
                dobs.add(swapped)
            if phone := normalize_phone(item.record.phone):
                phones.add(phone)
    by_dob: dict[date, list[Patient]] = {}
    by_phone: dict[str, list[Patient]] = {}

    def add_to_pool(p: Patient) -> None:
        by_dob.setdefault(p.date_of_birth, []).append(p)
        if p.phone:
            by_phone.setdefault(p.phone, []).append(p)

    if dobs:
        from django.db.models import Q

        for p in Patient.objects.filter(
            Q(date_of_birth__in=dobs) | Q(phone__in=phones), status=Patient.Status.ACTIVE
        ):
            add_to_pool(by_pk.setdefault(p.pk, p))

    def first(patients: list[Patient], keep: Any, limit: int) -> list[Patient]:
        # What _candidates()' sliced queries return: matching active rows, model order.
        alive = list({id(p): p for p in patients if keep(p)}.values())
        if len(alive) > limit:
            alive.sort(key=lambda p: (p.last_name, p.first_name))
        return alive[:limit]

    def candidates(record: PatientRecord) -> list[Patient]:
        # The pool _candidates() would read, including what this batch created or changed.
        if record.date_of_birth is None:
            return []
        wanted = {record.date_of_birth}
        swapped = _swapped(record.date_of_birth)
        if swapped:
            wanted.add(swapped)
        found = {
            id(p): p
            for p in first(
                [p for dob in wanted for p in by_dob.get(dob, [])],
                lambda p: p.status == Patient.Status.ACTIVE and p.date_of_birth in wanted,
                200,
            )
        }
        phone = normalize_phone(record.phone)
        if phone:
            for p in first(
                by_phone.get(phone, []),
                lambda p: p.status == Patient.Status.ACTIVE and p.phone == phone,
                50,
            ):
                found.setdefault(id(p), p)
        return list(found.values())

    # 3. Decide, in arrival order, in memory.
    snapshot: dict[int, dict[str, Any]] = {}  # existing patients as read, before changes
    # What auditlog's receivers would have seen at each save, in order:
    # (action, the saved object, its state before, its state as saved, fields checked).
    audit: list[tuple[int, Any, Any, Any, list[str] | None]] = []
    changed_fields: dict[int, set[str]] = {}
    new_patients: list[Patient] = []
    new_idents: list[PatientIdentifier] = []
    flags: list[tuple[Patient, Patient, float, tuple[str, ...]]] = []
    events: list[tuple[str, Patient, int | None, dict[str, Any]]] = []
    results: list[UpsertResult | ValueError] = []
    watched = (*_DEMOGRAPHIC_FIELDS, "status", "merged_into_id")
    for item in items:
        record = item.record
        origin = (
            {"origin_connector_id": item.origin_connector_id} if item.origin_connector_id else {}
        )
        values = _record_values(record)
        patient = known(record)
        matched_by = "identifier"
        possible: list[tuple[Patient, float, tuple[str, ...]]] = []
        if patient is None:
            patient, possible = _demographic_match(record, candidates(record))
            matched_by = "new" if patient is None else "demographics"
        if patient is None:
            if record.date_of_birth is None or not record.first_name or not record.last_name:
                results.append(
                    ValueError("a new patient needs a first name, last name and date of birth")
                )
                continue
            patient = Patient(home_location_id=item.location_id, **values)
            new_patients.append(patient)
            audit.append((LogEntry.Action.CREATE, patient, None, copy.copy(patient), None))
            add_to_pool(patient)
            flags.extend((patient, other, score, reasons) for other, score, reasons in possible)
            events.append((PATIENT_CREATED, patient, item.location_id, origin))
            results.append(
                UpsertResult(
                    patient=patient,
                    created=True,
                    matched_by="new",
                    possible_duplicates=[p.pk for p, _, _ in possible],
                )
            )
        else:
            changed = [name for name, value in values.items() if getattr(patient, name) != value]
            if patient.pk is not None and patient.pk not in snapshot:
                snapshot[patient.pk] = {name: getattr(patient, name) for name in watched}
            if changed and patient.pk is not None:
                changed_fields.setdefault(patient.pk, set()).update(changed)
            before = copy.copy(patient)
            for name in changed:
                setattr(patient, name, values[name])
            if {"date_of_birth", "phone"} & set(changed):
                add_to_pool(patient)  # later records must find it under its new values
            if changed:
                fields = [*changed, "updated_at"]
                audit.append((LogEntry.Action.UPDATE, patient, before, copy.copy(patient), fields))
            if changed:
                events.append((PATIENT_UPDATED, patient, item.location_id, origin))
            results.append(
                UpsertResult(patient=patient, created=False, matched_by=matched_by, changed=changed)
            )
        for ident in record.identifiers:
            row = by_ident.get((ident.system, ident.value))
            if row is None:
                row = PatientIdentifier(
                    patient=patient,
                    system=ident.system,
                    value=ident.value,
                    kind=ident.kind,
                    location_id=item.location_id,
                )
                by_ident[(ident.system, ident.value)] = row
                new_idents.append(row)
                audit.append((LogEntry.Action.CREATE, row, None, row, None))
            elif row.patient is not patient:
                other = survivor(row.patient) if row.patient.pk else row.patient
                if other is not patient:
                    flags.append((patient, other, 1.0, ("same source identifier",)))

    # 4. Lock what is about to change and check nobody changed it since it was read.
    if snapshot:
        locked = Patient.objects.select_for_update().filter(pk__in=snapshot).order_by("pk")
        for fresh in locked:
            if any(getattr(fresh, n) != v for n, v in snapshot[fresh.pk].items()):
                raise StaleBatch("a patient changed while the batch was read")

    # 5. Write it all.
    now = timezone.now()
    Patient.objects.bulk_create(new_patients)
    PatientIdentifier.objects.bulk_create(new_idents)
    entries = []
    for action, saved, old, new, checked in audit:
        for version in (old, new):
            if version is not None and version is not saved:
                # The copies learn the row's id and timestamps; updated_at is the same
                # on both sides, as auditlog's pre_save receiver sees it before it moves.
                version.pk, version.id = saved.pk, saved.pk
                version.created_at, version.updated_at = saved.created_at, saved.updated_at
        entries.append(log_entry_for(new, action, old, checked))
    updated = [by_pk[pk] for pk in changed_fields]
    for patient in updated:
        patient.updated_at = now
    if updated:
        Patient.objects.bulk_update(
            updated, [*sorted(set().union(*changed_fields.values())), "updated_at"]
        )
    log_entries_write(entries)
    for a, b, score, reasons in flags:
        _flag_duplicate(a, b, score, reasons)
    outbox_enqueue_many(
        [
            Outgoing(event_type, "patient", patient.pk, location_id, payload)
            for event_type, patient, location_id, payload in events
        ]
    )
    return results
