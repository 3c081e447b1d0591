"""patients/mpi.py: identifiers first, then demographics; merges that can be reversed."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from integrations.models import OutboxEvent
from patients.models import Coverage, DuplicateCandidate, Patient, PatientIdentifier, PatientMerge
from patients.mpi import (
    ERR_UNMERGE_DONE,
    PatientRecord,
    SourceIdentifier,
    patient_merge,
    patient_unmerge,
    patient_upsert_from_source,
)
from patients.mpi.upsert import identifier_index
from tests import factories as f

pytestmark = pytest.mark.django_db


def _record(value: str, **kw) -> PatientRecord:
    fields = {
        "identifiers": (SourceIdentifier(system="DEN-EHR", value=value),),
        "first_name": "Alexandra",
        "last_name": "Moreau",
        "date_of_birth": date(1984, 6, 2),
        "phone": "303-555-0188",
        "zip_code": "80202",
        "sex": "F",
        **kw,
    }
    return PatientRecord(**fields)


def test_a_near_certain_demographic_match_attaches_the_new_identifier():
    existing = f.patient(
        first_name="Alexandra",
        last_name="Moreau",
        date_of_birth=date(1984, 6, 2),
        phone="3035550188",
        zip_code="80202",
        sex="F",
    )

    result = patient_upsert_from_source(record=_record("E-1"))

    assert (result.patient, result.matched_by, result.created) == (existing, "demographics", False)
    assert PatientIdentifier.objects.get(value_bidx=identifier_index("E-1")).patient == existing


def test_a_possible_match_creates_a_new_record_and_flags_the_pair():
    existing = f.patient(
        first_name="Alexandria", last_name="Moreau", date_of_birth=date(1984, 6, 2), sex="F"
    )

    result = patient_upsert_from_source(record=_record("E-2", phone=""))

    assert result.created and result.patient != existing
    pair = DuplicateCandidate.objects.get()
    assert {pair.patient_a, pair.patient_b} == {existing, result.patient}
    assert 0.80 <= pair.score < 0.95 and "same date of birth" in pair.reason


def test_the_same_record_twice_changes_nothing_the_second_time():
    with transaction.atomic():
        patient_upsert_from_source(record=_record("E-3"))
    events = OutboxEvent.objects.count()

    again = patient_upsert_from_source(record=_record("E-3"))

    assert again.matched_by == "identifier" and again.changed == []
    assert OutboxEvent.objects.count() == events
    assert Patient.objects.count() == 1


def test_a_merge_moves_everything_and_unmerge_puts_it_back():
    survivor, merged = f.patient(), f.patient()
    PatientIdentifier.objects.create(patient=merged, system="DEN-EHR", value="OLD")
    plan = f.plan()
    kept = f.coverage(patient=survivor, plan=plan)
    clash = f.coverage(patient=merged, plan=f.plan())
    location = f.location()
    slot = f.slot(
        provider=f.provider(locations=[location]), location=location, start=f.timezone.now()
    )
    appt = f.appointment(patient=merged, slot=slot, appointment_type=f.appointment_type())

    merge = patient_merge(survivor=survivor, merged=merged)

    merged.refresh_from_db(), appt.refresh_from_db(), clash.refresh_from_db()
    assert merged.status == "merged" and merged.merged_into == survivor
    assert appt.patient == survivor
    assert PatientIdentifier.objects.get(value_bidx=identifier_index("OLD")).patient == survivor
    assert clash.patient == survivor and not clash.active, "the survivor keeps its own primary"
    assert Coverage.objects.get(pk=kept.pk).active

    patient_unmerge(merge=merge)

    merged.refresh_from_db(), appt.refresh_from_db(), clash.refresh_from_db()
    assert merged.status == "active" and merged.merged_into is None
    assert appt.patient == merged and clash.patient == merged and clash.active
    assert PatientIdentifier.objects.get(value_bidx=identifier_index("OLD")).patient == merged
    assert PatientMerge.objects.get().reversed_at is not None
    with pytest.raises(ValueError, match=ERR_UNMERGE_DONE):
        patient_unmerge(merge=merge)


def test_the_unmerge_command_reverses_a_merge_and_refuses_twice(capsys):
    from django.core.management import CommandError, call_command

    survivor, merged = f.patient(), f.patient()
    merge = patient_merge(survivor=survivor, merged=merged)

    call_command("patient_unmerge", str(merge.pk))

    assert "reversed" in capsys.readouterr().out
    merged.refresh_from_db()
    assert merged.status == "active"
    with pytest.raises(CommandError, match="already been reversed"):
        call_command("patient_unmerge", str(merge.pk))
