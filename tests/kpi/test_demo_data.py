"""The demo seed gives the KPI pages a history that reads like a real group's (QA findings)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from scheduling.models import Appointment

pytestmark = pytest.mark.django_db

ARGS = ["--locations", "3", "--providers", "8", "--patients", "120", "--days", "21"]


@pytest.fixture
def seeded():
    call_command("seed_demo", *ARGS, "--history-months", "3", "--seed", "5")
    return timezone.now()


def test_upcoming_bookings_were_made_steadily_over_the_weeks_before(seeded):
    now = seeded
    upcoming = Appointment.objects.filter(status="booked", start__gt=now)
    assert upcoming.count() > 200
    # Never in the future, never before the patient was registered, never after the visit.
    assert not upcoming.filter(created_at__gt=now).exists()
    assert not upcoming.filter(created_at__lt=F("patient__created_at")).exists()
    assert not Appointment.objects.filter(created_at__lt=F("patient__created_at")).exists()
    # The last 30 days and the 30 before them hold about as many of them, so the default
    # KPI period does not look busier than the one it is compared with.
    recent = upcoming.filter(created_at__gte=now - timedelta(days=30)).count()
    before = upcoming.filter(
        created_at__gte=now - timedelta(days=60), created_at__lt=now - timedelta(days=30)
    ).count()
    assert 0.7 < recent / before < 1.4, (recent, before)
    # Not a spike on the seed's own day either.
    today = upcoming.filter(created_at__gte=now - timedelta(days=1)).count()
    assert today < upcoming.count() / 10


def test_patients_names_and_visits_fit_who_they_are(seeded):
    from patients.models import Patient
    from scheduling.demo.people import FEMALE_FIRST_NAMES, MALE_FIRST_NAMES
    from scheduling.models import AppointmentType

    # Names agree with the recorded sex (no "Thomas Harris: Female").
    names_by_sex = set(Patient.objects.values_list("sex", "first_name"))
    assert not {("F", name) for name in MALE_FIRST_NAMES} & names_by_sex
    assert not {("M", name) for name in FEMALE_FIRST_NAMES} & names_by_sex
    assert Patient.objects.filter(sex="F").exists() and Patient.objects.filter(sex="M").exists()

    today = seeded.date()
    adult_only = {
        "implant-placement",
        "implant-consult",
        "denture-fitting",
        "perio-maintenance",
        "scaling-root-planing",
        "laser-gum-therapy",
        "periodic-cleaning",
    }
    completed = set(
        Appointment.objects.filter(status="completed").values_list("patient_id", flat=True)
    )
    checked = 0
    for appt in Appointment.objects.select_related("patient", "provider", "appointment_type"):
        age = appt.patient.age_on(today)
        code = appt.appointment_type.code
        # Inside the provider's age range, and no adult periodontal visit for a child.
        assert appt.provider.min_patient_age <= age <= appt.provider.max_patient_age, appt.pk
        assert not (age < 18 and code in adult_only), (age, code)
        assert not (age >= 18 and code.startswith("child-")), (age, code)
        if appt.status == "booked":
            status = appt.appointment_type.patient_status
            # Established patients are not booked a "New patient exam"; existing-only
            # visits go to patients the group has seen.
            if status == AppointmentType.PatientStatus.NEW:
                assert appt.patient_id not in completed, appt.pk
            if status == AppointmentType.PatientStatus.EXISTING:
                assert appt.patient_id in completed, appt.pk
        checked += 1
    assert checked > 300


def test_every_upcoming_agent_booking_was_made_on_a_call(seeded):
    """Ops read calls next to bookings: agent bookings without calls made no sense."""
    now = seeded
    agent_bookings = Appointment.objects.filter(status="booked", start__gt=now, channel="agent")
    assert agent_bookings.exists()
    assert not agent_bookings.filter(call__isnull=True).exists()
    # The call ended with that booking, by the agent who booked it, for that patient.
    assert not agent_bookings.exclude(call__agent=F("booked_by")).exists()
    assert not agent_bookings.exclude(call__patient=F("patient")).exists()
    assert not agent_bookings.exclude(call__outcome="booked").exists()
    assert not agent_bookings.filter(call__started_at__gt=F("created_at")).exists()


def test_only_agent_bookings_carry_an_agent(seeded):
    """The KPI agent filter counts what each agent booked: PMS, self-service and partner
    bookings name no agent."""
    assert Appointment.objects.filter(channel="agent", booked_by__isnull=False).exists()
    assert not Appointment.objects.exclude(channel="agent").filter(booked_by__isnull=False).exists()


def test_provider_patient_mismatches_are_rare_in_the_seeded_history(seeded):
    """12.9 % mismatches, most of them "no shared language", alarmed every first look."""
    from datetime import UTC

    from scheduling.kpi import selectors
    from scheduling.kpi.filters import KpiFilters

    today = seeded.astimezone(UTC).date()
    past = KpiFilters(date_from=today - timedelta(days=80), date_to=today - timedelta(days=1))
    summary = selectors.accuracy_summary(past)
    mismatch = next(m for m in summary.metrics if m.key == "mismatch")

    assert mismatch.denominator and mismatch.denominator > 100
    assert mismatch.value is not None and mismatch.value < 5.0
