"""Operating the ledger: health page, replay / dead-letter / resolve, audited raw access."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User

from config.models import AuditEntry as LogEntry
from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message

from .hl7_samples import adt

pytestmark = pytest.mark.django_db


def _stored(*raws: str) -> list[Message]:
    inbound_store_batch(list(raws))
    return list(Message.objects.order_by("id"))


def test_the_health_page_shows_each_connector_to_ops_only(client, ops_manager, agent, pms):
    _stored(adt("H1"), adt("H2", dob="19801399"))
    inbound.inbound_drain_keys([Message.objects.get(control_id="H1").ordering_key])
    Message.objects.filter(control_id="H2").update(status="dead")

    client.force_login(ops_manager)
    page = client.get("/integrations/health/").content.decode()
    assert "Denver PMS" in page
    assert "1 dead-lettered" in page and "attention" in page

    client.force_login(agent)
    assert client.get("/integrations/health/").status_code == 403


def test_replay_is_idempotent_audited_and_reprocesses(client, admin_user, pms):
    (row,) = _stored(adt("R1"))
    Message.objects.filter(pk=row.pk).update(status="dead", attempts=8, last_error="db down")
    client.force_login(admin_user)

    for _ in range(2):
        client.post(
            "/admin/integrations/message/",
            {"action": "replay", "_selected_action": [row.pk]},
        )

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("received", 0)
    entries = LogEntry.objects.get_for_object(row).filter(action=LogEntry.Action.UPDATE)
    assert entries.count() == 1, "the second replay found nothing to do"
    assert entries.get().actor == admin_user
    inbound.inbound_drain_keys([row.ordering_key])
    row.refresh_from_db()
    assert row.status == "processed"


def test_dead_letter_and_resolve_only_touch_rows_they_apply_to(client, admin_user, pms):
    waiting, done = _stored(adt("D1"), adt("D2", mrn="X2"))
    inbound.inbound_drain_keys([done.ordering_key])
    client.force_login(admin_user)

    client.post(
        "/admin/integrations/message/",
        {"action": "dead_letter", "_selected_action": [waiting.pk, done.pk]},
    )
    waiting.refresh_from_db(), done.refresh_from_db()
    assert waiting.status == "dead" and done.status == "processed"

    client.post(
        "/admin/integrations/message/", {"action": "resolve", "_selected_action": [waiting.pk]}
    )
    waiting.refresh_from_db()
    assert waiting.status == "resolved"


def test_raw_payloads_need_the_permission_and_viewing_one_is_logged(client, pms):
    (row,) = _stored(adt("P1", last="Zebulon"))
    staff = User.objects.create_user("staff.test", password="x", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_message", "change_message"])
    )
    client.force_login(staff)
    url = f"/admin/integrations/message/{row.pk}/change/"

    assert "Zebulon" not in client.get(url).content.decode()
    assert not LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()

    staff.user_permissions.add(Permission.objects.get(codename="view_raw_message"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert "Zebulon" in client.get(url).content.decode()
    access = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert access.object_pk == str(row.pk) and access.actor == staff
