"""An agent who opens a patient sees who else a two-resource visit books."""

from __future__ import annotations

import pytest

from tests.scheduling.resources_world import TwoResourceWorld

from .helpers import HX

pytestmark = pytest.mark.django_db


def test_the_patients_visit_names_the_hygienist_it_books(client, agent):
    world = TwoResourceWorld()
    appt = world.book(agent, world.slot_at(60))
    client.force_login(agent)

    page = client.post(
        "/console/patients/open/", {"patient_id": world.patient.pk}, headers=HX
    ).content.decode()

    assert f"{appt.provider} with {world.hygienist}" in page
