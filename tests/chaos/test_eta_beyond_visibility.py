"""A task whose ETA lies beyond Redis's visibility timeout: when a worker starts, it puts
the still-unacknowledged task back in the queue, and a second copy waits for the ETA. One
runs it; the other finds its claim (``config.celery.HubTask``) and does nothing, so the
delivery happens once. The product's own countdowns stay inside the timeout anyway
(its retries wait in the database), which the second test holds to."""

from __future__ import annotations

import time

import pytest
from celery import current_app
from django.conf import settings

from integrations.models import Message
from integrations.tasks import outbox_relay_task
from integrations.x12.tasks import eligibility_check_send_task

from .conftest import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

VISIBILITY, COUNTDOWN = 2, 12
RELAY = "integrations.tasks.outbox_relay_task"


def test_an_eta_past_the_visibility_timeout_delivers_once(
    processes, pms, broker, bookings, mllp_server
):
    pms_system = mllp_server([])
    pms.endpoint = f"127.0.0.1:{pms_system.port}"
    pms.save()
    short = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY)}
    first, second = processes.worker(**short), processes.worker(**short)
    for worker in (first, second):
        wait_for(lambda w=worker: "ready." in "".join(processes.log(w)), "the workers")
    appointment = bookings.book()
    outbox_relay_task.apply_async(queue=processes.queue, countdown=COUNTDOWN)
    time.sleep(VISIBILITY + 1)
    # What a worker does when it starts: put back what has been unacknowledged for longer
    # than the visibility timeout (done here so the case need not wait for a start-up).
    with current_app.connection_for_write(
        transport_options={"visibility_timeout": VISIBILITY}
    ) as conn:
        conn.default_channel.qos.restore_visible(num=100)
    assert not Message.objects.filter(direction="out", status="sent").exists(), "ETA not due"

    wait_for(
        lambda: Message.objects.filter(direction="out", status="sent").exists(),
        "the delivery",
        timeout=COUNTDOWN + 60,
    )
    time.sleep(5)
    lines = [line for line in processes.log(first) + processes.log(second) if f"{RELAY}[" in line]
    assert sum(" received" in line for line in lines) == 2, "Redis gave it to both workers"
    assert sum("ran at its ETA already; copy skipped" in line for line in lines) == 1
    sent = Message.objects.filter(direction="out", status="sent")
    assert sent.count() == 1 and sent.get().outbox_event.aggregate_id == appointment.pk
    assert [kind for _, kind, _ in pms_system.received] == ["SIU^S12^SIU_S12"]


def test_no_task_of_the_product_waits_longer_than_the_visibility_timeout():
    visibility = 3600  # the default of CELERY_VISIBILITY_TIMEOUT
    if "visibility_timeout" in settings.CELERY_BROKER_TRANSPORT_OPTIONS:
        visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    task = eligibility_check_send_task
    assert task.retry_backoff_max < visibility
