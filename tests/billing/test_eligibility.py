"""Eligibility: real-time on hold, nightly batch with per-payer throttling, 271 posting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from billing.eligibility_batch import Throttle
from billing.models import EligibilityBatchRun, EligibilityCheck, Encounter
from billing.services import encounter_number_for
from integrations.models import Connector, Message
from integrations.x12.inquiry import (
    ERR_NO_CONNECTOR,
    eligibility_batch_send,
    eligibility_response_post,
)
from integrations.x12.tasks import eligibility_check_send_task
from patients.models import Coverage
from scheduling.models import Hold
from scheduling.signals import appointment_changed, hold_placed
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def sandbox_for(payer, tmp_path) -> Connector:
    return Connector.objects.create(
        name=f"Sandbox {payer.payer_code}",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.CLEARINGHOUSE,
        payer=payer,
        endpoint=str(tmp_path / payer.payer_code),
    )


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
    sandbox_for(v.payer, tmp_path)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with transaction.atomic():
            hold_placed.send(sender=Hold, hold=_hold(v, agent), patient=v.patient)
        check = EligibilityCheck.objects.get()
        assert check.status == EligibilityCheck.Status.PENDING
        assert not Message.objects.exists()  # no payer call inside the booking transaction
    assert len(callbacks) == 1

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


def test_the_sandbox_answers_with_a_full_benefits_summary(tmp_path):
    v = b.visit()
    sandbox_for(v.payer, tmp_path)
    Coverage.objects.filter(pk=v.coverage.pk).update(member_id="ACTIVE0001")
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    eligibility_check_send_task.apply(args=[check.pk])

    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.ACTIVE
    assert check.plan_begin.month == 1 and check.plan_end.month == 12
    assert check.copay is not None and check.deductible_remaining is not None
    assert check.coinsurance_percent in {Decimal("20.00"), Decimal("30.00"), Decimal("50.00")}


@pytest.mark.parametrize(
    ("member_id", "status", "code"),
    [
        ("INACTIVE77", EligibilityCheck.Status.INACTIVE, None),
        ("NOTFOUND12", EligibilityCheck.Status.ERROR, "75"),
    ],
)
def test_inactive_and_unknown_members(tmp_path, member_id, status, code):
    v = b.visit()
    sandbox_for(v.payer, tmp_path)
    Coverage.objects.filter(pk=v.coverage.pk).update(member_id=member_id)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    eligibility_check_send_task.apply(args=[check.pk])

    check.refresh_from_db()
    assert check.status == status
    if code:
        assert check.errors[0]["code"] == code
        assert check.errors[0]["message"] == "Subscriber / insured not found"


def test_a_payer_without_connector_is_an_error_not_a_hang():
    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    eligibility_check_send_task.apply(args=[check.pk])
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.ERROR
    assert check.errors[0]["message"] == ERR_NO_CONNECTOR


def test_a_payer_level_rejection_answers_every_check_of_its_270(tmp_path):
    down = b.payer(code="SBXDOWN")
    v1, v2 = b.visit(the_payer=down), b.visit(the_payer=down)
    sandbox_for(down, tmp_path)
    ids = [
        EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now()).pk
        for v in (v1, v2)
    ]
    from integrations.x12.inquiry import eligibility_checks_send

    eligibility_checks_send(check_ids=ids)

    for check in EligibilityCheck.objects.filter(pk__in=ids):
        assert check.status == EligibilityCheck.Status.ERROR
        assert check.errors[0]["code"] == "42" and check.errors[0]["loop"] == "2100A"


def test_a_malformed_271_is_kept_and_changes_nothing(tmp_path):
    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    raw = "ISA*00*          *00*          *ZZ*SBX            *ZZ*CAREHUB        *260309*0830*^*00501*000000042*0*T*:~GS*HB*SBX*CAREHUB*20260309*0830*42*X*005010X279A1~ST*271*0001*005010X279A1~BHT*0022*11~"

    result = eligibility_response_post(raw=raw, connector=None)

    assert "truncated" in result.error
    msg = Message.objects.get()
    assert (
        msg.status == Message.Status.REJECTED and msg.raw == raw and "truncated" in msg.last_error
    )
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING


def test_a_271_from_an_unknown_payer_is_kept_and_changes_nothing(tmp_path):
    from tests.integrations.x12.samples import DELTA_STYLE, wrap

    v = b.visit()
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    raw = wrap("271", DELTA_STYLE.replace("EC41", f"EC{check.pk}"))

    result = eligibility_response_post(raw=raw, connector=None)

    assert result.error == "The 271 comes from a payer the hub does not know (SBXDD1)."
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING
    assert Message.objects.get().status == Message.Status.REJECTED


def _upcoming(n_days: int, payer=None):
    start = timezone.now().replace(microsecond=0) + timedelta(days=n_days, hours=1)
    return b.visit(start=start, the_payer=payer)


def test_the_batch_checks_upcoming_appointments_and_reports_progress(tmp_path):
    payer = b.payer()
    sandbox_for(payer, tmp_path)
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
    sandbox_for(payer, tmp_path)
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
    sandbox_for(payer, tmp_path)
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
    sandbox_for(v.payer, tmp_path)
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
