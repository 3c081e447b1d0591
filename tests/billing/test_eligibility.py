"""Eligibility: real-time on hold, nightly batch with per-payer throttling, 271 posting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from billing.eligibility_batch import Throttle
from billing.models import EligibilityBatchRun, EligibilityCheck, Encounter
from billing.services import encounter_number_for
from integrations.models import Message
from integrations.x12.inquiry import (
    eligibility_batch_send,
)
from integrations.x12.tasks import eligibility_check_send_task
from scheduling.models import Hold
from scheduling.signals import appointment_changed, hold_placed
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def _hold(v, user) -> Hold:
    now = timezone.now()
    return Hold.objects.create(
        slot=v.appointment.slot_links.get().slot,
        held_by=user,
        created_at=now,
        expires_at=now + timedelta(minutes=3),
        released_at=now,  # the visit's slot is booked already; a released hold is enough here
    )


def test_a_hold_queues_a_real_time_check_after_commit(
    agent, tmp_path, django_capture_on_commit_callbacks
):
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            hold_placed.send(sender=Hold, hold=_hold(v, agent), patient=v.patient)
        check = EligibilityCheck.objects.get()
        assert check.status == EligibilityCheck.Status.PENDING
        assert not Message.objects.exists()  # no payer call inside the booking transaction
    # The audit log's seal also runs after the commit; one payer call is queued.
    assert len([c for c in callbacks if "eligibility" in c.__qualname__]) == 1

    eligibility_check_send_task.apply(args=[check.pk])

    check.refresh_from_db()
    assert check.status in {EligibilityCheck.Status.ACTIVE, EligibilityCheck.Status.INACTIVE}
    assert check.message.message_type == "271"
    assert sorted(Message.objects.values_list("direction", "message_type")) == [
        ("in", "271"),
        ("out", "270"),
    ]


def test_a_recent_check_is_not_repeated(agent, settings, tmp_path):
    settings.ELIGIBILITY_STALE_DAYS = 7
    v = b.visit()
    EligibilityCheck.objects.create(
        coverage=v.coverage,
        requested_at=timezone.now() - timedelta(days=2),
        status=EligibilityCheck.Status.ACTIVE,
    )
    hold_placed.send(sender=Hold, hold=_hold(v, agent), patient=v.patient)
    assert EligibilityCheck.objects.count() == 1

    EligibilityCheck.objects.update(requested_at=timezone.now() - timedelta(days=8))
    hold_placed.send(sender=Hold, hold=_hold(v, agent), patient=v.patient)
    assert EligibilityCheck.objects.count() == 2


def _upcoming(n_days: int, payer=None):
    start = timezone.now().replace(microsecond=0) + timedelta(days=n_days, hours=1)
    return b.visit(start=start, the_payer=payer)


def test_the_batch_checks_upcoming_appointments_and_reports_progress(tmp_path):
    payer = b.payer()
    b.sandbox_for(payer, tmp_path)
    soon = [_upcoming(1, payer), _upcoming(2, payer), _upcoming(3, payer)]
    _upcoming(20, payer)  # outside the window
    seen = []

    run = eligibility_batch_send(days=7, on_progress=lambda r: seen.append(r.checked))

    assert run.status == EligibilityBatchRun.Status.DONE
    assert (run.total, run.checked, run.skipped) == (3, 3, 0)
    assert run.active + run.inactive + run.errors == 3
    assert seen == [3]
    assert set(EligibilityCheck.objects.values_list("appointment_id", flat=True)) == {
        v.appointment.pk for v in soon
    }
    # One 270 for the payer, holding all three subscribers.
    (sent,) = Message.objects.filter(message_type="270")
    assert sent.raw.count("HL*") == 5

    again = eligibility_batch_send(days=7)
    assert (again.checked, again.skipped) == (0, 3)


def test_the_batch_is_throttled_per_payer(tmp_path):
    payer = b.payer(max_requests_per_minute=2)
    b.sandbox_for(payer, tmp_path)
    for day in (1, 2, 3, 4, 5):
        _upcoming(day, payer)
    clock = [0.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    run = eligibility_batch_send(days=7, throttle=Throttle(clock=lambda: clock[0], sleep=sleep))

    assert run.checked == 5
    assert slept == [60.0, 60.0]  # 2 + 2 + 1 inquiries, a minute apart
    assert Message.objects.filter(message_type="270").count() == 3


def test_the_batch_command_prints_a_summary(tmp_path, capsys):
    payer = b.payer()
    b.sandbox_for(payer, tmp_path)
    _upcoming(1, payer)

    call_command("eligibility_batch", "--days", "3")

    out = capsys.readouterr().out
    assert "1 appointment(s), 1 checked, 0 skipped" in out


def test_booking_opens_the_encounter_and_cancelling_voids_it():
    v = b.visit()
    appointment_changed.send(sender=None, appointment=v.appointment, event="booked", previous=None)
    appointment_changed.send(sender=None, appointment=v.appointment, event="booked", previous=None)

    enc = Encounter.objects.get()
    assert enc.encounter_number == encounter_number_for(v.appointment.pk)
    assert enc.date_of_service == v.appointment.start.astimezone(v.location.tz).date()

    appointment_changed.send(
        sender=None, appointment=v.appointment, event="cancelled", previous=None
    )
    assert Encounter.objects.get().status == Encounter.Status.VOID


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_answers_the_hold_check(agent, tmp_path, settings):
    """Hold placed -> commit -> Celery task on the broker -> real worker -> sandbox 271."""
    from tests.test_celery_worker import ROOT, _database_url

    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_TASK_DEFAULT_QUEUE": queue}
    env.setdefault("HUB_VAR_DIR", str(settings.VAR_DIR))
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queue, "--pool", "solo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    conf = eligibility_check_send_task.app.conf
    previous_queue = conf.task_default_queue
    conf.task_default_queue = queue
    try:
        with transaction.atomic():
            hold_placed.send(sender=Hold, hold=_hold(v, agent), patient=v.patient)
        check = EligibilityCheck.objects.get()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and check.status == EligibilityCheck.Status.PENDING:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
            check.refresh_from_db()
        assert check.status != EligibilityCheck.Status.PENDING
        assert check.message is not None and check.message.message_type == "271"
    finally:
        conf.task_default_queue = previous_queue
        proc.terminate()
        proc.wait(timeout=20)
