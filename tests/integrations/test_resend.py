"""Ops resends a delivered outbound message to the location system from admin."""

from __future__ import annotations

import pytest

from config.models import AuditEntry as LogEntry
from integrations.models import Connector, Message
from integrations.relay import outbox_relay
from tests import factories as f

from .conftest import booked_appointment

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_kick(settings):
    settings.INTEGRATIONS_KICK_RELAY = False
    settings.INTEGRATIONS_SEND_TIMEOUT = 2


def test_resend_delivers_the_event_again_once_per_click_and_replay_still_refuses(
    client, admin_user, mllp_server
):
    server = mllp_server([])
    location = f.location()
    Connector.objects.create(
        name="Resend PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        endpoint=f"127.0.0.1:{server.port}",
        sending_application="DENPMS",
        sending_facility="DEN",
    )
    booked_appointment(location=location)
    outbox_relay()
    original = Message.objects.get(direction="out")
    assert original.status == "sent" and len(server.received) == 1
    client.force_login(admin_user)
    url = "/admin/integrations/message/"

    page = client.post(
        url, {"action": "replay", "_selected_action": [original.pk]}, follow=True
    ).content.decode()
    assert "not in a state this action applies to" in page, "replay stays for failed rows"

    for _ in range(2):  # a double click queues one delivery, not two
        page = client.post(
            url, {"action": "resend", "_selected_action": [original.pk]}, follow=True
        ).content.decode()
    waiting = Message.objects.filter(direction="out", status="pending")
    assert waiting.count() == 1
    assert "not in a state this action applies to" in page
    resent = waiting.get()
    created = LogEntry.objects.get_for_object(resent).get(action=LogEntry.Action.CREATE)
    assert created.actor == admin_user

    outbox_relay()

    resent.refresh_from_db()
    original.refresh_from_db()
    assert resent.status == "sent" and original.status == "sent"
    (first_id, first_type, _), (second_id, second_type, _) = server.received
    assert first_type == second_type == "SIU^S12^SIU_S12"
    assert first_id == original.control_id and second_id == resent.control_id != first_id
    assert resent.connector_id == original.connector_id
