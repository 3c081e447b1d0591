"""The nightly eligibility batch: which appointments to check, and how fast per payer.

Billing decides what is asked and paces it (``Payer.max_requests_per_minute``); the
caller passes ``send``, which asks the payers (the clearinghouse side's 270 sender), so
this module never touches the wire.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from config.audit import audit_creates
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


def eligibility_batch_run(
    *,
    send: Callable[[list[int]], object],
    days: int | None = None,
    throttle: Throttle | None = None,
    on_progress: Callable[[EligibilityBatchRun], None] | None = None,
) -> EligibilityBatchRun:
    """Check every appointment in the next ``days`` days, throttled per payer.

    ``send`` gets the ids of one payer chunk of new pending checks and asks the payer;
    the checks' statuses after it returns are counted on the run. Appointments whose
    coverage was checked in the last day are skipped. The run row's counters are
    committed after every payer chunk, so ops sees progress while it runs.
    """
    days = settings.ELIGIBILITY_BATCH_DAYS if days is None else days
    throttle = throttle or Throttle()
    run = EligibilityBatchRun.objects.create(started_at=timezone.now(), days=days)
    try:
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
        payers = {p.pk: p for p in Payer.objects.all()}
        checks = EligibilityCheck.objects.bulk_create(
            EligibilityCheck(
                coverage_id=cov_id, appointment_id=appt_id, requested_at=timezone.now()
            )
            for appt_id, cov_id in wanted.items()
        )
        audit_creates(checks)
        by_payer: dict[int, list[int]] = defaultdict(list)
        for check in checks:
            by_payer[payer_of[check.coverage_id]].append(check.pk)
        for payer_id, ids in by_payer.items():
            per_minute = max(1, payers[payer_id].max_requests_per_minute)
            for start in range(0, len(ids), per_minute):
                chunk = ids[start : start + per_minute]
                throttle.take(payer_id, len(chunk), per_minute)
                send(chunk)
                _count(run, checks=chunk)
                if on_progress:
                    on_progress(run)
        run.status = EligibilityBatchRun.Status.DONE
    except Exception as exc:
        run.status = EligibilityBatchRun.Status.FAILED
        run.note = f"{type(exc).__name__}: {exc}"[:300]
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run


def _count(run: EligibilityBatchRun, *, checks: list[int]) -> None:
    statuses = EligibilityCheck.objects.filter(pk__in=checks).values_list("status", flat=True)
    for status in statuses:
        run.checked += 1
        if status == EligibilityCheck.Status.ACTIVE:
            run.active += 1
        elif status == EligibilityCheck.Status.INACTIVE:
            run.inactive += 1
        elif status == EligibilityCheck.Status.ERROR:
            run.errors += 1
    run.save()
