"""The database itself rejects rows that would break the product's guarantees."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from billing.models import NetworkParticipation
from patients.models import Coverage, Patient
from scheduling.models import Appointment, AppointmentSlot, Hold, Provider, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db
SOON = datetime.now(tz=UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=3)


def rejected(fn) -> bool:
    try:
        with transaction.atomic():
            fn()
    except IntegrityError:
        return True
    return False


@pytest.fixture
def world():
    loc = f.location()
    prov = f.provider(locations=[loc])
    return loc, prov, f.slot(provider=prov, location=loc, start=SOON)


def test_a_slot_cannot_have_two_live_holds(world, agent, other_agent):
    _, _, slot = world
    now = timezone.now()
    Hold.objects.create(
        slot=slot, held_by=agent, created_at=now, expires_at=now + timedelta(minutes=3)
    )

    assert rejected(
        lambda: Hold.objects.create(
            slot=slot, held_by=other_agent, created_at=now, expires_at=now + timedelta(minutes=3)
        )
    )


def test_a_released_hold_frees_the_slot_for_another(world, agent, other_agent):
    _, _, slot = world
    now = timezone.now()
    Hold.objects.create(
        slot=slot,
        held_by=agent,
        created_at=now,
        expires_at=now + timedelta(minutes=3),
        released_at=now,
    )

    assert not rejected(
        lambda: Hold.objects.create(
            slot=slot, held_by=other_agent, created_at=now, expires_at=now + timedelta(minutes=3)
        )
    )


def test_a_slot_unit_cannot_be_booked_twice(world):
    _, _, slot = world
    first = f.appointment(patient=f.patient(), slot=slot, appointment_type=f.appointment_type())
    second = Appointment.objects.create(
        patient=f.patient(),
        provider=first.provider,
        location=first.location,
        appointment_type=first.appointment_type,
        start=first.start,
        end=first.end,
        status="cancelled",
        cancel_reason="other",
        created_at=SOON,
        updated_at=SOON,
    )

    assert rejected(lambda: AppointmentSlot.objects.create(appointment=second, slot=slot))


def test_a_cancelled_booking_releases_its_slot_unit(world):
    _, _, slot = world
    first = f.appointment(patient=f.patient(), slot=slot, appointment_type=f.appointment_type())
    Appointment.objects.filter(pk=first.pk).update(
        status="cancelled", cancel_reason="patient_request"
    )
    AppointmentSlot.objects.filter(appointment=first).update(active=False)
    second = Appointment.objects.create(
        patient=f.patient(),
        provider=first.provider,
        location=first.location,
        appointment_type=first.appointment_type,
        start=first.start,
        end=first.end,
        created_at=SOON,
        updated_at=SOON,
    )

    assert not rejected(lambda: AppointmentSlot.objects.create(appointment=second, slot=slot))


def test_overlapping_active_appointments_for_one_provider_are_rejected_on_postgresql(world):
    loc, prov, _ = world
    appt_type = f.appointment_type()

    def book(start: datetime, minutes: int) -> Appointment:
        return Appointment.objects.create(
            patient=f.patient(),
            provider=prov,
            location=loc,
            appointment_type=appt_type,
            start=start,
            end=start + timedelta(minutes=minutes),
            created_at=SOON,
            updated_at=SOON,
        )

    book(SOON, 60)
    overlap_rejected = rejected(lambda: book(SOON + timedelta(minutes=30), 60))
    # The exclusion constraint is PostgreSQL's; SQLite relies on the slot-unit index above.
    assert overlap_rejected is (connection.vendor == "postgresql")
    assert not rejected(lambda: book(SOON + timedelta(minutes=60), 30))  # touching is fine


def test_a_cancelled_appointment_needs_a_reason(world):
    loc, prov, _ = world
    assert rejected(
        lambda: Appointment.objects.create(
            patient=f.patient(),
            provider=prov,
            location=loc,
            appointment_type=f.appointment_type(),
            start=SOON,
            end=SOON + timedelta(minutes=30),
            status="cancelled",
            created_at=SOON,
            updated_at=SOON,
        )
    )


def test_time_ranges_must_be_ordered(world):
    loc, prov, _ = world
    assert rejected(lambda: Slot.objects.create(provider=prov, location=loc, start=SOON, end=SOON))
    assert rejected(
        lambda: f.template(provider=prov, location=loc, weekday=0, start=time(12), end=time(9))
    )
    assert rejected(
        lambda: f.template(
            provider=prov,
            location=loc,
            weekday=0,
            start=time(8),
            end=time(12),
            break_start=time(13),
            break_end=time(14),
        )
    )


def test_one_active_primary_coverage_per_patient():
    patient = f.patient()
    plan = f.plan()
    f.coverage(patient=patient, plan=plan)
    assert rejected(
        lambda: Coverage.objects.create(patient=patient, plan=plan, member_id="X1", priority=1)
    )
    assert not rejected(
        lambda: Coverage.objects.create(
            patient=patient, plan=plan, member_id="X1", priority=1, active=False
        )
    )


def test_network_participation_names_a_location_or_a_provider_not_both(world):
    loc, prov, _ = world
    plan = f.plan()
    assert rejected(
        lambda: NetworkParticipation.objects.create(plan=plan, location=loc, provider=prov)
    )
    assert rejected(lambda: NetworkParticipation.objects.create(plan=plan))
    NetworkParticipation.objects.create(plan=plan, location=loc)
    assert rejected(lambda: NetworkParticipation.objects.create(plan=plan, location=loc))


def test_a_merged_patient_must_point_at_its_survivor():
    assert rejected(
        lambda: Patient.objects.create(
            first_name="A", last_name="B", date_of_birth=date(1990, 1, 1), status="merged"
        )
    )


def test_provider_age_range_must_be_ordered():
    assert rejected(lambda: f.provider(min_patient_age=18, max_patient_age=5))


def test_invalid_npi_and_time_zone_get_clear_messages(world):
    loc, prov, _ = world
    prov.npi = "1234567890"
    with pytest.raises(ValidationError, match="NPI '1234567890' is invalid"):
        prov.full_clean()
    loc.time_zone = "Mars/Olympus"
    with pytest.raises(ValidationError, match="Unknown time zone 'Mars/Olympus'"):
        loc.full_clean()


def test_a_valid_npi_passes():
    assert Provider(npi="1234567893").npi  # CMS's published example NPI
    from scheduling.validators import npi_is_valid

    assert npi_is_valid("1234567893")
    assert not npi_is_valid("1234567890")
