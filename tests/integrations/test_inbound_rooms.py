"""An SIU^S12's AIL-3 room reaches the appointment, so the hub keeps that room for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduling.models import Appointment, Room
from tests import factories as f

from .hl7_samples import siu
from .test_inbound_scheduling import _receive

pytestmark = pytest.mark.django_db
JAN_15 = datetime(2027, 1, 15, 17, 0, tzinfo=UTC)  # 10:00 in Denver


def test_a_front_desk_booking_takes_the_room_its_ail_names(pms):
    provider = f.provider(locations=[pms.location])
    f.appointment_type(code="exam")
    for minute in (0, 30):
        f.slot(provider=provider, location=pms.location, start=JAN_15 + timedelta(minutes=minute))
    Room.objects.create(location=pms.location, code="op1", name="Op 1")
    op3 = Room.objects.create(location=pms.location, code="op3", name="Op 3")
    raw = siu("S1", npi=provider.npi, type_code="exam", start="202701151000", end="202701151030")

    (row,) = _receive(raw + "AIL|1||^op3\r")

    assert row.status == "processed", row.last_error
    assert Appointment.objects.get().room == op3
