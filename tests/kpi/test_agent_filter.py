"""The agent filter counts the bookings the agent made, not those made through other
channels that happen to name them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from scheduling.kpi import selectors
from scheduling.models import Appointment

from .dataset import PERIOD

pytestmark = pytest.mark.django_db


def test_the_agent_filter_leaves_out_other_channels_bookings(kpi_net):
    # a partner app or FHIR client authenticated as the agent books: booked_by is set.
    Appointment.objects.exclude(channel="agent").update(booked_by=kpi_net.agent)
    mine = replace(PERIOD, agent_id=kpi_net.agent.pk)

    metrics = {m.key: m for m in selectors.access_metrics(mine)}

    assert metrics["bookings"].value == 1  # a1, the one agent.test booked on a call
    assert metrics["automation"].value == 0.0
