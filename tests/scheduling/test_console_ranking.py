"""slot_search as the console presents it: clock order within a day, a location outside
the chosen region, and who counts as new to the practice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from patients.models import PatientIdentifier
from scheduling.models import AppointmentType
from scheduling.selectors import slot_search
from tests import factories as f

pytestmark = pytest.mark.django_db
DAY = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=15, minute=0, second=0, microsecond=0)


def test_it_lists_each_day_in_clock_order_and_keeps_the_best_first_in_options():
    home = f.location(zip_code="80202", latitude=39.75, longitude=-104.99)
    far = f.location(zip_code="80903", latitude=38.83, longitude=-104.82)
    near_dentist = f.provider(locations=[home])
    far_dentist = f.provider(locations=[far])
    # The far location's morning start scores lower than the near one's afternoon start.
    early = f.slot(provider=far_dentist, location=far, start=DAY)
    late = f.slot(provider=near_dentist, location=home, start=DAY + timedelta(hours=6))
    patient = f.patient(zip_code="80202")

    result = slot_search(patient=patient, appointment_type=f.appointment_type())

    assert [o.slot_id for o in result.options] == [late.pk, early.pk]  # best first
    (day,) = result.days
    assert [o.slot_id for o in day.options] == [early.pk, late.pk]  # by the clock


def test_it_searches_a_location_outside_the_chosen_region_and_says_so(agent):
    mountain, desert = f.region(), f.region()
    denver = f.location(region=mountain)
    dentist = f.provider(locations=[denver])
    slot = f.slot(provider=dentist, location=denver, start=DAY)
    f.agent_profile(user=agent, home_region=desert)

    result = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        region=desert,
        location=denver,
        user=agent,
    )

    assert [o.slot_id for o in result.options] == [slot.pk]
    assert result.widened_from_region_id == desert.pk and result.region_id is None


def _existing_only_visit() -> AppointmentType:
    return f.appointment_type(patient_status=AppointmentType.PatientStatus.EXISTING)


def test_it_counts_a_chart_at_a_location_as_a_patient_of_the_practice():
    clinic = f.location()
    dentist = f.provider(locations=[clinic])
    f.slot(provider=dentist, location=clinic, start=DAY)
    charted = f.patient()
    PatientIdentifier.objects.create(
        patient=charted, system="CLINIC-EHR", value="MR1", location=clinic
    )
    visit = _existing_only_visit()

    assert slot_search(patient=charted, appointment_type=visit).blocked == ()
    # Without a chart or a visit the caller is new to the practice.
    unknown = slot_search(patient=f.patient(), appointment_type=visit)
    assert unknown.blocked and "new to the practice" in unknown.blocked[0]


def test_it_keeps_a_booked_new_patient_exam_movable_once_the_patient_is_charted():
    clinic = f.location()
    dentist = f.provider(locations=[clinic])
    booked_slot = f.slot(provider=dentist, location=clinic, start=DAY)
    other = f.slot(provider=dentist, location=clinic, start=DAY + timedelta(hours=2))
    patient = f.patient()
    exam = f.appointment_type(patient_status=AppointmentType.PatientStatus.NEW)
    appt = f.appointment(patient=patient, slot=booked_slot, appointment_type=exam)
    PatientIdentifier.objects.create(
        patient=patient, system="CLINIC-EHR", value="MR2", location=clinic
    )

    moving = slot_search(patient=patient, appointment_type=exam, rescheduling=appt)
    assert [o.slot_id for o in moving.options] == [other.pk]


def test_it_lets_a_charted_patient_not_seen_for_three_years_book_a_new_patient_exam():
    # CPT/ADA: a patient not seen in three years is new again, chart or not.
    clinic = f.location()
    dentist = f.provider(locations=[clinic])
    slot = f.slot(provider=dentist, location=clinic, start=DAY)
    charted = f.patient()
    PatientIdentifier.objects.create(
        patient=charted, system="CLINIC-EHR", value="MR3", location=clinic
    )
    exam = f.appointment_type(patient_status=AppointmentType.PatientStatus.NEW)

    result = slot_search(patient=charted, appointment_type=exam)

    assert result.blocked == ()
    assert [o.slot_id for o in result.options] == [slot.pk]
