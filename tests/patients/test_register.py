from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from integrations.models import OutboxEvent
from integrations.outbox import PATIENT_CREATED
from patients.models import DuplicateCandidate, Patient
from patients.services import POSSIBLE_DUPLICATES, PossibleDuplicate, patient_register
from tests import factories as f

pytestmark = pytest.mark.django_db


def data(**kw):
    return {
        "first_name": "Maria",
        "last_name": "Gonzalez",
        "date_of_birth": date(1985, 4, 12),
        "phone": "(720) 555-0199",
        "zip_code": "80202",
        **kw,
    }


def test_a_new_patient_is_created_with_an_outbox_event(agent):
    home = f.location()

    patient = patient_register(data=data(home_location=home), by=agent)

    assert patient.phone == "7205550199"
    event = OutboxEvent.objects.get(aggregate_type="patient", aggregate_id=patient.pk)
    assert event.event_type == PATIENT_CREATED
    assert event.location_id == home.pk


def test_a_likely_duplicate_is_refused_with_the_candidates(agent):
    existing = f.patient(first_name="Maria", last_name="Gonzales", date_of_birth=date(1985, 4, 12))
    before = Patient.objects.count()

    with pytest.raises(PossibleDuplicate) as refused:
        patient_register(data=data(), by=agent)

    assert str(refused.value) == POSSIBLE_DUPLICATES
    assert [c.patient for c in refused.value.candidates] == [existing]
    assert "same date of birth" in refused.value.candidates[0].match.reasons
    assert Patient.objects.count() == before
    assert not OutboxEvent.objects.exists()


def test_a_swapped_day_and_month_is_still_caught(agent):
    f.patient(
        first_name="Maria",
        last_name="Gonzalez",
        date_of_birth=date(1985, 12, 4),
        phone="7205550199",
    )
    with pytest.raises(PossibleDuplicate):
        patient_register(data=data(), by=agent)


def test_confirming_not_a_duplicate_creates_and_records_the_decision(agent):
    existing = f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1985, 4, 12))

    patient = patient_register(data=data(), by=agent, confirmed_not_duplicate=True)

    pair = DuplicateCandidate.objects.get()
    assert {pair.patient_a_id, pair.patient_b_id} == {patient.pk, existing.pk}
    assert pair.status == DuplicateCandidate.Status.NOT_DUPLICATE


def test_someone_different_is_not_flagged(agent):
    f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1962, 1, 30))
    assert patient_register(data=data(), by=agent).pk


def test_bad_data_is_refused_and_nothing_is_written(agent):
    with pytest.raises(ValidationError):
        patient_register(data=data(date_of_birth=date(1700, 1, 1)), by=agent)
    with pytest.raises(ValidationError):
        patient_register(data=data(status="merged"), by=agent)
    assert not Patient.objects.exists()


def test_registering_needs_permission(biller):
    with pytest.raises(PermissionDenied):
        patient_register(data=data(), by=biller)
