"""Overbookings racing for the provider's last places of the day: the limit holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from config.roles import AGENT, OPS_MANAGER
from scheduling import services
from scheduling.models import Appointment
from tests import factories as f

from .test_concurrency import START, race

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_overbookings_stop_at_the_daily_limit():
    loc = f.location()
    prov = f.provider(locations=[loc], overbook_daily_limit=2)
    visit = f.appointment_type()
    slots = [
        f.slot(provider=prov, location=loc, start=START + timedelta(minutes=30 * i))
        for i in range(6)
    ]
    groups = [Group.objects.get(name=AGENT), Group.objects.get(name=OPS_MANAGER)]
    users = []
    for i in range(6):
        user = User.objects.create_user(f"sup{i}", password="x")
        user.groups.add(*groups)
        users.append(user)
    for i, slot in enumerate(slots):
        hold = services.hold_place(slot=slot, by=users[i])
        services.appointment_book(
            hold=hold, patient=f.patient(), appointment_type=visit, by=users[i], reason="recall"
        )
    patients = [f.patient() for _ in slots]

    outcomes = race(
        6,
        lambda i: services.appointment_overbook(
            slot=slots[i],
            patient=patients[i],
            appointment_type=visit,
            by=users[i],
            reason="urgent",
            overbook_reason="Emergency fit-in",
        ),
    )

    assert outcomes == {"ok": 2, "OverbookLimitReached": 4}
    assert Appointment.objects.filter(overbooked=True).count() == 2
