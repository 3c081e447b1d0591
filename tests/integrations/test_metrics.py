"""/metrics: who may scrape it, and that it shows what the integration health page shows."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from billing.models import EligibilityCheck
from config.metrics import queue_depths
from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import ApiToken, Message, OutboxEvent
from tests import factories as f
from tests.console.helpers import HX, bookable

from .hl7_samples import adt

pytestmark = pytest.mark.django_db


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def _scrape(client: Client, **headers: str) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return _samples(response.content.decode())


def test_anonymous_scrapes_are_refused_with_401():
    response = Client().get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_metrics_token_may_scrape_and_a_read_token_may_not(ops_manager):
    _, metrics_key = ApiToken.issue(ops_manager, scopes=["metrics"])
    _, read_key = ApiToken.issue(ops_manager, scopes=["read"])
    anonymous = Client()

    ok = anonymous.get("/metrics", headers={"Authorization": f"Bearer {metrics_key}"})
    refused = anonymous.get("/metrics", headers={"Authorization": f"Bearer {read_key}"})

    assert ok.status_code == 200 and b"carehub_outbox_events" in ok.content
    assert refused.status_code == 403 and b"metrics" in refused.content


def test_ops_may_scrape_from_a_session_and_an_agent_may_not(client, ops_manager, agent):
    client.force_login(agent)
    assert client.get("/metrics").status_code == 403
    client.force_login(ops_manager)
    assert client.get("/metrics").status_code == 200


def test_a_token_scrapes_only_what_its_owner_may_see(agent):
    _, key = ApiToken.issue(agent, scopes=["metrics"])
    assert Client().get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 403


def _health_numbers(page: str) -> dict[str, int]:
    def number(element_id: str) -> int:
        found = re.search(rf'id="{element_id}">(\d+)<', page)
        assert found, element_id
        return int(found.group(1))

    return {
        "pending": number("outbox-pending"),
        "dead": number("outbox-dead"),
        "holds": number("activity-holds"),
        "booked": number("activity-booked"),
        "active": number("activity-eligibility-active"),
    }


def test_metrics_and_the_health_page_agree_after_traffic(client, agent, ops_manager, pms):
    # Inbound: one processed, one queued, one dead.
    inbound_store_batch([adt("M1"), adt("M2", mrn="X2"), adt("M3", mrn="X3")])
    inbound.inbound_drain_keys([Message.objects.get(control_id="M1").ordering_key])
    Message.objects.filter(control_id="M3").update(status="dead")
    # Console: a hold and a booking.
    _, _, slot = bookable()
    patient = f.patient()
    client.force_login(agent)
    client.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    client.post("/console/patients/open/", {"patient_id": patient.pk}, headers=HX)
    client.post(
        "/console/hold/",
        {"slot_id": slot.pk, "appointment_type_id": f.appointment_type().pk},
        headers=HX,
    )
    assert client.post("/console/book/", {"reason": "new_problem"}, headers=HX).status_code == 200
    # An answered eligibility check and a dead outbox event.
    now = timezone.now()
    EligibilityCheck.objects.create(
        coverage=f.coverage(patient=patient),
        requested_at=now - timedelta(seconds=30),
        responded_at=now,
        status="active",
    )
    OutboxEvent.objects.create(
        event_type="patient.updated",
        aggregate_type="patient",
        aggregate_id=patient.pk,
        status="dead",
        created_at=now,
        next_attempt_at=now,
    )

    client.force_login(ops_manager)
    page = client.get("/integrations/health/").content.decode()
    samples = _scrape(client)

    shown = _health_numbers(page)
    window = (("window_seconds", "300"),)
    assert samples[("carehub_outbox_events", (("state", "pending"),))] == shown["pending"]
    assert samples[("carehub_outbox_events", (("state", "dead"),))] == shown["dead"] == 1
    assert samples[("carehub_holds_placed_recent", window)] == shown["holds"] == 1
    assert samples[("carehub_appointments_booked_recent", window)] == shown["booked"] == 1
    eligibility = ("carehub_eligibility_answered_recent", (("status", "active"), *window))
    assert samples[eligibility] == shown["active"] == 1
    connector = (("connector", "Denver PMS"), ("kind", "HL7 v2 over MLLP"))
    row = re.search(r'<th scope="row">Denver PMS</th>(.*?)</tr>', page, re.S)
    assert row
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    queued, failed, dead = (int(re.sub(r"<[^>]+>", "", c)) for c in cells[5:8])
    backlog = "carehub_connector_backlog"
    assert samples[(backlog, (*connector, ("state", "queued")))] == queued == 1
    assert samples[(backlog, (*connector, ("state", "failed")))] == failed == 0
    assert samples[(backlog, (*connector, ("state", "dead")))] == dead == 1
    assert samples[("carehub_connector_lag_seconds", connector)] > 0


def test_request_latency_is_labelled_by_view_never_by_path(client, ops_manager):
    client.force_login(ops_manager)
    client.get("/integrations/health/")
    client.get("/no/such/page/12345/")

    samples = _scrape(client)

    views = {
        dict(labels)["view"]
        for (name, labels) in samples
        if name == "carehub_http_request_duration_seconds_count"
    }
    assert {"integrations:health", "unresolved"} <= views
    assert not any("/" in v or re.search(r"\d", v) for v in views)


def test_queue_depth_counts_what_waits_on_the_broker():
    queue = f"metrics-{uuid.uuid4().hex[:8]}"
    with override_settings(CELERY_TASK_DEFAULT_QUEUE=queue):
        url = settings.CELERY_BROKER_URL
        if url.startswith("redis://"):
            import redis

            r = redis.Redis.from_url(url)
            r.rpush(queue, b"a", b"b", b"c")
            try:
                assert queue_depths() == {queue: 3}
            finally:
                r.delete(queue)
        else:
            folder = Path(settings.CELERY_BROKER_DIR)
            names = [folder / f"1_{uuid.uuid4()}.{queue}.msg" for _ in range(3)]
            for name in names:
                name.write_bytes(b"{}")
            (folder / f"1_{uuid.uuid4()}.other.msg").write_bytes(b"{}")
            try:
                assert queue_depths() == {queue: 3}
            finally:
                for name in folder.glob(f"*.{queue}.msg"):
                    name.unlink()
                for name in folder.glob("*.other.msg"):
                    name.unlink()
