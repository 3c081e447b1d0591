"""Overbooking from the console: offered only to a permitted user, refused without a
reason, and marked on the patient's appointments once made."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User

from config.roles import AGENT, OPS_MANAGER
from scheduling.models import Appointment
from tests import factories as f

from .helpers import HX

pytestmark = pytest.mark.django_db


def test_a_supervisor_overbooks_a_booked_time_from_the_finder(client, agent):
    supervisor = User.objects.create_user("supervisor.console", password="pw-for-tests-only")
    supervisor.groups.add(Group.objects.get(name=AGENT), Group.objects.get(name=OPS_MANAGER))
    net = f.console_network()
    taken = net["slots"]["cherry-creek"][0]
    f.appointment(patient=f.patient(), slot=taken, appointment_type=net["cleaning"])
    patient = f.patient()
    search = {"appointment_type": net["cleaning"].pk, "provider": net["dentist"].pk}
    for user, offered in ((agent, False), (supervisor, True)):
        client.force_login(user)
        client.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
        page = client.post("/console/slots/", search, headers=HX).content.decode()
        assert ("Overbook a booked time (1)" in page) is offered

    body = {"slot_id": taken.pk, "reason": "urgent", "overbook_reason": ""}
    refused = client.post("/console/overbook/", body, headers=HX)
    made = client.post(
        "/console/overbook/", {**body, "overbook_reason": "Broken tooth, pain"}, headers=HX
    )

    assert refused.status_code == 400
    assert "Say why this slot must be double-booked." in refused.content.decode()
    assert made.status_code == 200 and "Overbooked." in made.content.decode()
    assert ">Overbooked</span>" in made.content.decode()
    assert Appointment.objects.get(patient=patient).overbooked
