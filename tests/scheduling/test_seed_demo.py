from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import NetworkParticipation, Payer
from patients.models import Coverage, Patient, PatientIdentifier
from scheduling import services
from scheduling.models import (
    Appointment,
    AppointmentType,
    Call,
    Equipment,
    Location,
    Provider,
    Slot,
    TimeOff,
    Waitlist,
)
from scheduling.selectors import slot_search
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--locations", "0"], "--locations must be between 1 and 200 (got 0)"),
        (["--patients", "-5"], "--patients must be between 1 and 1000000 (got -5)"),
        (["--days", "900"], "--days must be between 1 and 365 (got 900)"),
        (
            ["--locations", "10", "--providers", "5"],
            "--providers must be at least twice --locations",
        ),
    ],
)
def test_invalid_arguments_are_refused_with_the_reason(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("seed_demo", *args)
    assert not Location.objects.exists()


def test_it_builds_a_network_with_the_promised_shape(agent):
    call_command(
        "seed_demo",
        "--locations",
        "12",
        "--providers",
        "30",
        "--patients",
        "300",
        "--days",
        "14",
        "--history-months",
        "2",
    )

    assert Location.objects.count() == 12
    assert Location.objects.values("region").distinct().count() == 3
    assert Location.objects.values("time_zone").distinct().count() >= 2
    assert AppointmentType.objects.count() >= 15
    assert Payer.objects.count() >= 6
    assert NetworkParticipation.objects.filter(location__isnull=False).exists()
    assert NetworkParticipation.objects.filter(provider__isnull=False).exists()
    # Scarce equipment is what makes a wrong-location booking possible.
    cbct = Equipment.objects.get(code="cbct")
    assert 0 < cbct.locations.count() < 12
    assert Patient.objects.count() >= 300
    assert not Patient.objects.filter(identifiers__isnull=True).exists()
    assert Coverage.objects.count() > 200
    assert (
        Slot.objects.filter(status="free").exists()
        and Slot.objects.filter(status="booked").exists()
    )
    assert Appointment.objects.filter(status="completed").exists()
    assert Appointment.objects.filter(cancel_reason="wrong_location").exists()
    assert Call.objects.exclude(outcome="").count() > 100
    assert Provider.objects.filter(accepts_new_patients=False).exists()
    assert Waitlist.objects.filter(status="open", locations__isnull=False).exists()
    assert TimeOff.objects.exists()
    # Vacation weeks leave no free slots behind.
    off = TimeOff.objects.first()
    assert not Slot.objects.filter(
        provider=off.provider, start__gte=off.starts_at, start__lt=off.ends_at
    ).exists()
    # The dentist-and-hygienist exam finds times and books a hygienist with the dentist.
    exam = AppointmentType.objects.get(code="exam-with-cleaning")
    patient = f.patient()
    [first, *_] = slot_search(patient=patient, appointment_type=exam).options
    hold = services.hold_place(
        slot=Slot.objects.get(pk=first.slot_id), by=agent, appointment_type=exam
    )
    visit = services.appointment_book(
        hold=hold, patient=patient, appointment_type=exam, by=agent, reason="recall"
    )
    assert visit.assistant.capabilities.filter(code="hygiene").exists()


def test_it_is_deterministic_for_a_seed():
    args = [
        "--locations",
        "3",
        "--providers",
        "6",
        "--patients",
        "40",
        "--days",
        "3",
        "--history-months",
        "1",
        "--seed",
        "7",
    ]
    call_command("seed_demo", *args)
    first = sorted(PatientIdentifier.objects.values_list("value", "patient__last_name"))
    call_command("seed_demo", *args, "--reset")
    second = sorted(PatientIdentifier.objects.values_list("value", "patient__last_name"))
    assert first == second and len(first) >= 80


def test_it_refuses_to_seed_twice_without_reset_and_if_empty_skips():
    args = [
        "--locations",
        "2",
        "--providers",
        "4",
        "--patients",
        "10",
        "--days",
        "2",
        "--history-months",
        "0",
    ]
    call_command("seed_demo", *args)
    with pytest.raises(CommandError, match="already holds a network"):
        call_command("seed_demo", *args)
    call_command("seed_demo", *args, "--if-empty")
    assert Location.objects.count() == 2
