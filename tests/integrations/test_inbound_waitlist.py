"""Bookings and cancellations from a location's PMS drive the waitlist like an agent's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from patients.models import Patient
from scheduling import selectors, services
from scheduling.models import Waitlist
from tests import factories as f

from .hl7_samples import siu
from .test_inbound_scheduling import _receive

pytestmark = pytest.mark.django_db
JAN_15 = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # 10:00 in Denver


@pytest.fixture
def units(pms):
    provider = f.provider(locations=[pms.location])
    exam = f.appointment_type(code="exam")
    for day in (0, 1):
        for minute in (0, 30, 60):
            start = JAN_15 + timedelta(days=day, minutes=minute)
            f.slot(provider=provider, location=pms.location, start=start)
    return provider, exam


def test_a_pms_cancellation_surfaces_the_waitlist_matches(pms, units, agent):
    provider, exam = units
    started = timezone.now()
    _receive(
        siu("S1", npi=provider.npi, type_code="exam", start="202701151000", end="202701151030")
    )
    waiting = services.waitlist_add(
        patient=f.patient(),
        appointment_type=exam,
        by=agent,
        earliest=JAN_15.date(),
        latest=JAN_15.date(),
    )
    assert selectors.waitlist_matches_recently_freed(since=started) == []

    (cancel,) = _receive(siu("S2", event="S15"))[1:]

    assert cancel.status == "processed", cancel.last_error
    matches = selectors.waitlist_matches_recently_freed(since=started)
    assert [(m.entry_id, m.start) for m in matches] == [(waiting.pk, JAN_15)]


def test_a_pms_booking_fills_the_patients_waitlist_entry(pms, units, agent):
    provider, exam = units
    _receive(
        siu("S1", npi=provider.npi, type_code="exam", start="202701151000", end="202701151030")
    )
    patient = Patient.objects.get()
    next_day = (JAN_15 + timedelta(days=1)).date()
    entry = services.waitlist_add(
        patient=patient, appointment_type=exam, by=agent, earliest=next_day, latest=next_day
    )

    (row,) = _receive(
        siu(
            "S2",
            external_id="PMS-7002",
            npi=provider.npi,
            type_code="exam",
            start="202701161000",
            end="202701161030",
        )
    )[1:]

    assert row.status == "processed", row.last_error
    entry.refresh_from_db()
    assert entry.status == Waitlist.Status.BOOKED
    assert entry.appointment.external_id == "PMS-7002"
