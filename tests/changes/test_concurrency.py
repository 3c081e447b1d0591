"""Two ops managers working the same worklist at the same instant: a visit is moved once.

Real threads with their own connections (``tests.scheduling.test_concurrency.race``): the
worklist row's lock decides on PostgreSQL, BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User

from config.roles import OPS_MANAGER
from scheduling.changes.apply import time_off_add
from scheduling.changes.rebook import rebooking_item_rebook
from scheduling.models import Appointment, RebookingItem, Slot
from tests.scheduling.test_concurrency import race

from .world import Network, at

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_managers_rebooking_one_visit_to_different_starts_move_it_once(agent):
    group = Group.objects.get(name=OPS_MANAGER)
    managers = [User.objects.create_user(f"ops{i}", password="x") for i in range(2)]
    for user in managers:
        user.groups.add(group)
    net = Network()
    booked = net.book(agent, net.slot(9))
    (item,) = time_off_add(
        provider=net.provider,
        starts_at=at(net.day, 0),
        ends_at=at(net.day + timedelta(days=1), 0),
        reason="Sick day",
        by=managers[0],
    ).items
    starts = [Slot.objects.get(provider=net.colleague, start=at(net.day, hour)) for hour in (9, 10)]

    outcomes = race(2, lambda i: rebooking_item_rebook(item=item, slot=starts[i], by=managers[i]))

    assert outcomes == {"ok": 1, "ItemDone": 1}
    assert RebookingItem.objects.get(pk=item.pk).status == RebookingItem.Status.REBOOKED
    moved = Appointment.objects.filter(patient=booked.patient, status="booked")
    assert moved.count() == 1 and moved.get().provider_id == net.colleague.pk
