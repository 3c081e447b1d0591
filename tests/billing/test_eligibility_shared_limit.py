"""The nightly eligibility batch on two worker processes keeps ONE payer limit.

The payer allows 2 inquiries per window (a 3-second "minute" here); the batch has 8
appointments, so 4 chunks of 2. Both workers take chunks; a chunk over budget goes back
on the queue with a countdown instead of sleeping in the worker. The sandbox payer logs
each 270 it receives; no stretch of time shorter than the window may hold more than 2
inquiries, and every appointment is asked about exactly once.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import EligibilityBatchRun, EligibilityCheck
from integrations.x12.tasks import eligibility_batch_task
from tests.billing import builders as b
from tests.processes import celery_workers, multiprocess_stack_missing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

WINDOW = 3
PER_WINDOW = 2
APPOINTMENTS = 8
# The payer logs a 270 a little after the worker took the budget for it (a claim, the
# 270 built, the file written); that lag differs from chunk to chunk on a busy machine,
# so the log is checked over a stretch this much shorter than the window. Two workers
# each keeping a limit of their own would put 4 inquiries within milliseconds.
LAG_ALLOWANCE = 1.0


def test_two_workers_never_exceed_one_payer_limit_and_ask_once_per_appointment(tmp_path):
    missing = multiprocess_stack_missing()
    if missing:
        pytest.skip(missing)
    payer = b.payer(max_requests_per_minute=PER_WINDOW)
    connector = b.sandbox_for(payer, tmp_path)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    visits = [
        b.visit(start=start + timedelta(hours=i), the_payer=payer) for i in range(APPOINTMENTS)
    ]
    env = {
        "ELIGIBILITY_RATE_WINDOW_SECONDS": str(WINDOW),
        "RATE_LIMIT_STORAGE_URL": settings.CELERY_BROKER_URL,
    }
    with celery_workers(2, extra_env=env) as fleet:
        eligibility_batch_task.apply_async(kwargs={"days": 3}, queue=fleet.queue)
        deadline = time.monotonic() + 90
        while not EligibilityBatchRun.objects.filter(
            status=EligibilityBatchRun.Status.DONE
        ).exists():
            fleet.alive()
            assert time.monotonic() < deadline, "the batch did not finish"
            time.sleep(0.3)

    run = EligibilityBatchRun.objects.get()
    assert (run.total, run.checked, run.skipped) == (APPOINTMENTS, APPOINTMENTS, 0)
    checks = EligibilityCheck.objects.filter(batch_run=run)
    assert sorted(checks.values_list("appointment_id", flat=True)) == sorted(
        v.appointment.pk for v in visits
    )
    assert not checks.filter(status=EligibilityCheck.Status.PENDING).exists()

    lines = (tmp_path / connector.payer.payer_code / "inquiries.log").read_text().split()
    log = [(float(at), int(n)) for at, n in zip(lines[::2], lines[1::2], strict=True)]
    assert sum(n for _, n in log) == APPOINTMENTS, "an appointment was asked twice, or never"
    for at, _ in log:
        in_stretch = sum(n for t, n in log if at - (WINDOW - LAG_ALLOWANCE) < t <= at)
        assert in_stretch <= PER_WINDOW, log
    # The pacing really happened: 4 chunks of 2 cannot fit in fewer than 3 windows.
    assert log[-1][0] - log[0][0] >= (APPOINTMENTS // PER_WINDOW - 1) * WINDOW - LAG_ALLOWANCE
