"""Admin cannot add or delete ledger rows (integration and payer ledgers) nor appointments:
those come from the wire or from the scheduling services, never from a form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing import models as bm
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from tests import factories as f

from .hl7_samples import adt

pytestmark = pytest.mark.django_db

NO_ADD = [
    "integrations/message",
    "integrations/outboxevent",
    "billing/remittance",
    "billing/remittanceclaim",
    "billing/eligibilitycheck",
    "scheduling/appointment",
]


@pytest.mark.parametrize("model", NO_ADD)
def test_no_add_page_for_ledger_rows_or_appointments(client, admin_user, model):
    client.force_login(admin_user)
    assert client.get(f"/admin/{model}/add/").status_code == 403
    listing = client.get(f"/admin/{model}/").content.decode()
    assert f"/admin/{model}/add/" not in listing
    assert "delete_selected" not in listing


def test_messages_cannot_be_deleted_or_edited_but_actions_still_work(client, admin_user, pms):
    inbound_store_batch([adt("AO1")])
    row = Message.objects.get(control_id="AO1")
    Message.objects.filter(pk=row.pk).update(status="dead")
    client.force_login(admin_user)

    assert client.get(f"/admin/integrations/message/{row.pk}/delete/").status_code == 403
    client.post(
        "/admin/integrations/message/",
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )
    assert Message.objects.filter(pk=row.pk).exists()

    page = client.get(f"/admin/integrations/message/{row.pk}/change/").content.decode()
    assert 'name="status"' not in page, "status is read-only"

    client.post("/admin/integrations/message/", {"action": "resolve", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.status == "resolved"


def test_outbox_events_and_remittances_are_read_only(client, admin_user):
    now = timezone.now()
    event = OutboxEvent.objects.create(
        event_type="appointment.booked",
        aggregate_type="appointment",
        aggregate_id=1,
        created_at=now,
        next_attempt_at=now,
    )
    remit = bm.Remittance.objects.create(
        trace_number="T1",
        content_hash="x" * 64,
        total_paid="10.00",
        payment_date=now.date(),
        received_at=now,
    )
    client.force_login(admin_user)
    for url in (
        f"/admin/integrations/outboxevent/{event.pk}/",
        f"/admin/billing/remittance/{remit.pk}/",
    ):
        assert client.get(url + "delete/").status_code == 403
        page = client.get(url + "change/").content.decode()
        assert 'name="status"' not in page and 'name="trace_number"' not in page


def test_appointment_status_cannot_be_changed_in_admin(client, admin_user):
    loc = f.location()
    prov = f.provider(locations=[loc])
    start = timezone.now() + timedelta(days=1)
    appt = f.appointment(
        patient=f.patient(),
        slot=f.slot(provider=prov, location=loc, start=start),
        appointment_type=f.appointment_type(),
    )
    client.force_login(admin_user)
    url = f"/admin/scheduling/appointment/{appt.pk}/change/"
    page = client.get(url).content.decode()
    assert 'name="status"' not in page
    client.post(url, {"status": "cancelled"})
    appt.refresh_from_db()
    assert appt.status != "cancelled"
    assert client.get(f"/admin/scheduling/appointment/{appt.pk}/delete/").status_code == 403
