"""IHE $hold and $book as a partner app sees them: what is left held after each answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.models import EligibilityCheck
from scheduling.models import Hold
from scheduling.selectors.holds import open_holds
from tests import factories as f

from .test_fhir_server import DAY, Fhir

pytestmark = pytest.mark.django_db


@pytest.fixture
def adults_only():
    """A provider who sees adults only, with three free half-hour units, and a child."""
    loc = f.location()
    provider = f.provider(locations=[loc], min_patient_age=18)
    slots = [
        f.slot(provider=provider, location=loc, start=DAY + timedelta(minutes=30 * i))
        for i in range(3)
    ]
    f.appointment_type(code="exam", duration_minutes=30)
    f.appointment_type(code="long", duration_minutes=60)
    child = f.patient(date_of_birth=(DAY - timedelta(days=365 * 8)).date())
    return slots, child


def _appointment(slot, patient, code: str = "exam") -> dict:
    return {
        "resourceType": "Appointment",
        "status": "proposed",
        "serviceType": [{"coding": [{"code": code}]}],
        "slot": [{"reference": f"Slot/{slot.pk}"}],
        "participant": [{"actor": {"reference": f"Patient/{patient.pk}"}, "status": "accepted"}],
    }


def test_it_leaves_no_hold_behind_when_the_rules_refuse_a_book(agent, adults_only):
    slots, child = adults_only

    status, body = Fhir(agent).post(
        "Appointment/$book",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "appointment", "resource": _appointment(slots[0], child)}],
        },
    )

    assert 400 <= status < 500, body
    assert "sees 18 and over" in body["issue"][0]["diagnostics"]
    assert not open_holds().filter(slot__in=slots).exists()
    assert not Hold.objects.exists()


def test_it_leaves_no_hold_behind_when_the_rules_refuse_a_create(agent, adults_only):
    slots, child = adults_only

    status, body = Fhir(agent).post("Appointment", _appointment(slots[1], child))

    assert 400 <= status < 500, body
    assert not Hold.objects.exists()


def test_hold_keeps_every_unit_of_a_long_visit_and_starts_the_eligibility_check(agent, adults_only):
    slots, _ = adults_only
    adult = f.patient()
    coverage = f.coverage(patient=adult)

    status, body = Fhir(agent).post(
        "Appointment/$hold",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "appointment", "resource": _appointment(slots[0], adult, "long")}
            ],
        },
    )

    assert status == 200, body
    assert set(open_holds().values_list("slot_id", flat=True)) == {slots[0].pk, slots[1].pk}
    assert EligibilityCheck.objects.filter(coverage=coverage).count() == 1
