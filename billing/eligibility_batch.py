"""The nightly eligibility batch: which appointments to check, and how fast per payer.

Billing decides what is asked and paces it (``Payer.max_requests_per_minute``); the
caller passes ``send``, which asks the payers (the clearinghouse side's 270 sender), so
this module never touches the wire.

Two ways to run it. ``eligibility_batch_run`` does the whole batch in one process and
paces it with a ``Throttle`` that sleeps (the management command). The Celery path plans
the batch (``eligibility_batch_plan``) and sends each payer chunk as a task of its own;
a chunk takes its inquiries from the payer's ONE budget shared by every worker
(``eligibility_chunk_wait``, Redis through ``config.rate_limits``), and when the budget
is spent the task puts itself back on the queue with a countdown instead of sleeping.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from config.audit import audit_creates
from config.rate_limits import limit_take, per_window
from patients.models import Coverage
from scheduling.models import Appointment

from .models import EligibilityBatchRun, EligibilityCheck, Payer


def batch_candidates(*, days: int, now: datetime | None = None) -> list[tuple[int, int]]:
    """(appointment id, coverage id) for every booked appointment in the next ``days`` days."""
    now = now or timezone.now()
    appts = list(
        Appointment.objects.filter(
            status__in=Appointment.ACTIVE_STATUSES,
            start__gte=now,
            start__lt=now + timedelta(days=days),
        )
        .order_by("start")
        .values_list("id", "patient_id", "start")
    )
    patient_ids = {p for _, p, _ in appts}
    coverages: dict[int, list[Coverage]] = defaultdict(list)
    for cov in Coverage.objects.filter(
        patient_id__in=patient_ids, active=True, priority=Coverage.Priority.PRIMARY
    ):
        coverages[cov.patient_id].append(cov)
    out = []
    for appt_id, patient_id, start in appts:
        day = start.date()
        found = next(
            (
                c
                for c in coverages.get(patient_id, [])
                if (c.effective_from is None or c.effective_from <= day)
                and (c.effective_until is None or c.effective_until >= day)
            ),
            None,
        )
        if found is not None:
            out.append((appt_id, found.pk))
    return out


class Throttle:
    """At most ``per_minute`` inquiries per payer per minute (Payer.max_requests_per_minute)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self.window: dict[int, tuple[float, int]] = {}
        self.waited = 0.0

    def take(self, payer_id: int, count: int, per_minute: int) -> None:
        start, used = self.window.get(payer_id, (self.clock(), 0))
        if self.clock() - start >= 60:
            start, used = self.clock(), 0
        if used and used + count > per_minute:
            pause = 60 - (self.clock() - start)
            if pause > 0:
                self.waited += pause
                self.sleep(pause)
            start, used = self.clock(), 0
        self.window[payer_id] = (start, used + count)


@dataclass(frozen=True)
class BatchChunk:
    """One payer's share of a run, at most one budget's worth: one 270."""

    payer_id: int
    check_ids: list[int]


@transaction.atomic
def eligibility_batch_plan(
    *, days: int | None = None
) -> tuple[EligibilityBatchRun, list[BatchChunk]]:
    """Open a run and its pending checks, and cut them into payer chunks to send.

    Appointments whose coverage was checked in the last day are skipped, and a coverage
    is asked once, for its first appointment. A run with nothing to send is done at once.
    Atomic: a plan that fails halfway leaves no run that nobody would ever finish.
    """
    days = settings.ELIGIBILITY_BATCH_DAYS if days is None else days
    run = EligibilityBatchRun.objects.create(started_at=timezone.now(), days=days)
    candidates = batch_candidates(days=days)
    run.total = len(candidates)
    fresh_since = timezone.now() - timedelta(days=1)
    recent = set(
        EligibilityCheck.objects.filter(
            coverage_id__in={c for _, c in candidates}, requested_at__gte=fresh_since
        )
        .exclude(status=EligibilityCheck.Status.ERROR)
        .values_list("coverage_id", flat=True)
    )
    wanted: dict[int, int] = {}
    for appt_id, cov_id in candidates:
        if cov_id in recent:
            run.skipped += 1
        else:
            recent.add(cov_id)  # one check per coverage, for its first appointment
            wanted[appt_id] = cov_id
    run.save()
    payer_of = dict(
        Coverage.objects.filter(pk__in=set(wanted.values())).values_list("pk", "plan__payer_id")
    )
    budget = dict(Payer.objects.values_list("pk", "max_requests_per_minute"))
    checks = EligibilityCheck.objects.bulk_create(
        EligibilityCheck(
            coverage_id=cov_id,
            appointment_id=appt_id,
            requested_at=timezone.now(),
            batch_run=run,
        )
        for appt_id, cov_id in wanted.items()
    )
    audit_creates(checks)
    by_payer: dict[int, list[int]] = defaultdict(list)
    for check in checks:
        by_payer[payer_of[check.coverage_id]].append(check.pk)
    chunks: list[BatchChunk] = []
    for payer_id, ids in by_payer.items():
        size = max(1, budget[payer_id])
        chunks.extend(
            BatchChunk(payer_id, ids[start : start + size]) for start in range(0, len(ids), size)
        )
    if not chunks:
        eligibility_batch_tally(run_id=run.pk)
        run.refresh_from_db()
    return run, chunks


def eligibility_chunk_wait(*, payer_id: int, cost: int) -> float:
    """Take ``cost`` inquiries from the payer's shared budget: 0.0 when they may go now,
    else the seconds to wait before asking again (nothing was taken)."""
    per_minute = Payer.objects.values_list("max_requests_per_minute", flat=True).get(pk=payer_id)
    item = per_window(per_minute, settings.ELIGIBILITY_RATE_WINDOW_SECONDS)
    return limit_take(item, "eligibility-payer", str(payer_id), cost=min(cost, item.amount))


def eligibility_batch_tally(*, run_id: int) -> EligibilityBatchRun:
    """Recount a run from its checks, and close it once none is left to send.

    Counting from the checks (not adding chunk by chunk) makes this safe to call from
    every worker, any number of times. A check counts as checked once it was sent or
    got its final status without being sent (no clearinghouse for the payer).
    """
    pending = Q(status=EligibilityCheck.Status.PENDING)
    counts = EligibilityCheck.objects.filter(batch_run_id=run_id).aggregate(
        checked=Count("pk", filter=~pending | Q(sent_at__isnull=False)),
        unsent=Count("pk", filter=pending & Q(sent_at__isnull=True)),
        active=Count("pk", filter=Q(status=EligibilityCheck.Status.ACTIVE)),
        inactive=Count("pk", filter=Q(status=EligibilityCheck.Status.INACTIVE)),
        errors=Count("pk", filter=Q(status=EligibilityCheck.Status.ERROR)),
    )
    EligibilityBatchRun.objects.filter(pk=run_id).update(
        checked=counts["checked"],
        active=counts["active"],
        inactive=counts["inactive"],
        errors=counts["errors"],
    )
    if not counts["unsent"]:
        # Conditional: the first worker to see the last chunk sent closes the run.
        EligibilityBatchRun.objects.filter(
            pk=run_id, status=EligibilityBatchRun.Status.RUNNING
        ).update(status=EligibilityBatchRun.Status.DONE, finished_at=timezone.now())
    return EligibilityBatchRun.objects.get(pk=run_id)


def eligibility_batch_run(
    *,
    send: Callable[[list[int]], object],
    days: int | None = None,
    throttle: Throttle | None = None,
    on_progress: Callable[[EligibilityBatchRun], None] | None = None,
) -> EligibilityBatchRun:
    """Check every appointment in the next ``days`` days in this process, throttled per
    payer by ``throttle`` (which sleeps).

    ``send`` gets the ids of one payer chunk of new pending checks and asks the payer;
    the checks' statuses after it returns are counted on the run. The run row's counters
    are committed after every payer chunk, so ops sees progress while it runs.
    """
    throttle = throttle or Throttle()
    run, chunks = eligibility_batch_plan(days=days)
    try:
        for chunk in chunks:
            budget = Payer.objects.values_list("max_requests_per_minute", flat=True)
            per_minute = max(1, budget.get(pk=chunk.payer_id))
            throttle.take(chunk.payer_id, len(chunk.check_ids), per_minute)
            send(chunk.check_ids)
            run = eligibility_batch_tally(run_id=run.pk)
            if on_progress:
                on_progress(run)
        run = eligibility_batch_tally(run_id=run.pk)
        run.status = EligibilityBatchRun.Status.DONE
    except Exception as exc:
        run.status = EligibilityBatchRun.Status.FAILED
        run.note = f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run
