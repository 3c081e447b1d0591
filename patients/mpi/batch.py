"""A worker's run of patient records (ADT^A04/A08, FHIR Patient) attached set-based, with
the effects of ``patient_upsert_from_source`` one by one.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any, cast

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from config.audit import CreateDiffs, bulk_audit_possible, log_entries_write, log_entry_for
from config.crypto.fields import (
    blind_indexes_for,
    blind_indexes_memoized,
    refresh_blind_indexes,
)
from config.fastsql import update_rows, values_of

from ..models import Patient, PatientIdentifier, PatientName
from ..phones import normalize_phone, phones_memoized
from ..signals import bulk_receivers_ready, patients_upserted
from .upsert import (
    _DEMOGRAPHIC_FIELDS,
    DOB_POOL,
    PHONE_POOL,
    PatientRecord,
    UpsertResult,
    _demographic_match,
    _flag_duplicate,
    _record_values,
    _survivor,
    _swapped,
    dob_index,
    identifier_index,
    phone_index,
)


class StaleBatch(Exception):
    """A patient the batch read changed before it was locked: apply one by one instead."""


@dataclass
class BatchItem:
    record: PatientRecord
    location_id: int | None
    origin_connector_id: int | None


@blind_indexes_memoized()
@phones_memoized()
def patient_upsert_batch(items: list[BatchItem]) -> list[UpsertResult | ValueError]:
    """``patient_upsert_from_source`` for many records at once, with the same effects.

    A handful of statements for the whole batch instead of ~14 per record: identifiers
    and demographic candidates are read in one query each, the decisions are made in
    memory in arrival order (a later record sees what an earlier one created or changed),
    the touched patients are locked and re-checked, then patients, identifiers and
    auditlog entries are written in bulk (bulk_create, one executemany UPDATE of the
    changed columns), and ``patients_upserted`` goes to the receivers once (integrations
    writes the outbox events from it, in one statement). A record that cannot be applied
    gets its ValueError back and has no effect. Raises StaleBatch (or a database error)
    when the batch must be retried one record at a time; the caller runs this inside a
    savepoint so nothing of it remains then.
    """
    from auditlog.models import LogEntry

    if not bulk_audit_possible():
        raise StaleBatch("auditlog hooks are active")
    if not bulk_receivers_ready():
        raise StaleBatch("a receiver of the one-record signals does not hear the batch")
    # 1. Every identifier and echoed hub id of the batch, in two queries.
    ident_keys = {identifier_index(i.value) for item in items for i in item.record.identifiers}
    by_ident: dict[tuple[str, str], PatientIdentifier] = {
        (row.system, row.value): row
        for row in PatientIdentifier.objects.select_related("patient").filter(
            value_bidx__in=ident_keys
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
        active = Patient.objects.filter(status=Patient.Status.ACTIVE)
        # A phone can be shared by thousands (a clinic's main line, a care home), and
        # one-record matching reads only its first PHONE_POOL in model order: read that
        # many per phone here too, not every holder once per batch.
        ranked = active.filter(phone_bidx__in=[phone_index(p) for p in phones]).annotate(
            rank=Window(
                RowNumber(),
                partition_by=F("phone_bidx"),
                order_by=[*cast(list[str], Patient._meta.ordering), "pk"],
            )
        )
        seen: set[int] = set()
        by_dob_key = active.filter(date_of_birth_bidx__in=[dob_index(d) for d in dobs])
        for query in (by_dob_key, ranked.filter(rank__lte=PHONE_POOL)):
            for p in query:
                if p.pk not in seen:
                    seen.add(p.pk)
                    add_to_pool(by_pk.setdefault(p.pk, p))

    def first(matching: list[Patient], limit: int) -> list[Patient]:
        # What _candidates()' sliced queries return: matching active rows, model order
        # (rows this batch creates have no id yet and come last, in creation order).
        # Filtered by the caller inline and sorted on the plain id: a phone shared by
        # the whole batch (a clinic's main line) puts every record it creates in one
        # pool, which is filtered and sorted again for each later record.
        alive = list({id(p): p for p in matching}.values())
        if len(alive) > limit:
            stored = sorted((p for p in alive if p.id is not None), key=attrgetter("id"))
            alive = stored + [p for p in alive if p.id is None]
        return alive[:limit]

    active_status = Patient.Status.ACTIVE

    def candidates(record: PatientRecord) -> list[Patient]:
        # The pool _candidates() would read, including what this batch created or changed.
        if record.date_of_birth is None:
            return []
        wanted = {record.date_of_birth}
        swapped = _swapped(record.date_of_birth)
        if swapped:
            wanted.add(swapped)
        same_dob = [
            p
            for dob in wanted
            for p in by_dob.get(dob, ())
            if p.status == active_status and p.date_of_birth in wanted
        ]
        found = {id(p): p for p in first(same_dob, DOB_POOL)}
        phone = normalize_phone(record.phone)
        if phone:
            same_phone = [
                p for p in by_phone.get(phone, ()) if p.status == active_status and p.phone == phone
            ]
            for p in first(same_phone, PHONE_POOL):
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
    events: list[tuple[str, Patient, int | None, int | None]] = []
    results: list[UpsertResult | ValueError] = []
    watched = (*_DEMOGRAPHIC_FIELDS, "status", "merged_into_id")
    for item in items:
        record = item.record
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
            refresh_blind_indexes(patient)  # later records look it up by them
            new_patients.append(patient)
            audit.append((LogEntry.Action.CREATE, patient, None, copy.copy(patient), None))
            add_to_pool(patient)
            flags.extend((patient, other, score, reasons) for other, score, reasons in possible)
            events.append(("created", patient, item.location_id, item.origin_connector_id))
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
            if changed:
                refresh_blind_indexes(patient)
            if {"date_of_birth", "phone"} & set(changed):
                add_to_pool(patient)  # later records must find it under its new values
            if changed:
                fields = [*changed, "updated_at"]
                audit.append((LogEntry.Action.UPDATE, patient, before, copy.copy(patient), fields))
            if changed:
                events.append(("updated", patient, item.location_id, item.origin_connector_id))
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
    creates = CreateDiffs()
    for action, saved, old, new, checked in audit:
        for version in (old, new):
            if version is not None and version is not saved:
                # The copies learn the row's id and timestamps; updated_at is the same
                # on both sides, as auditlog's pre_save receiver sees it before it moves.
                version.pk, version.id = saved.pk, saved.pk
                version.created_at, version.updated_at = saved.created_at, saved.updated_at
        entries.append(log_entry_for(new, action, old, checked, creates=creates))
    updated = [by_pk[pk] for pk in changed_fields]
    for patient in updated:
        patient.updated_at = now
    if updated:
        changed_names = sorted(set().union(*changed_fields.values()))
        # Only the changed columns: an unchanged encrypted column is not re-encrypted.
        names = [*changed_names, *blind_indexes_for(Patient, changed_names), "updated_at"]
        update_rows(Patient, names, [(p.pk, values_of(p, names)) for p in updated])
    PatientName.remember([*new_patients, *updated])
    log_entries_write(entries)
    for a, b, score, reasons in flags:
        _flag_duplicate(a, b, score, reasons)
    # One signal for the batch: integrations answers it with one outbox INSERT.
    patients_upserted.send(sender=Patient, changes=events)
    return results
