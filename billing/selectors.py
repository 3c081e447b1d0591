"""Reads: the primary coverage on a day, and the billing pages (work queue, claim detail,
AR aging, denials, eligibility)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from config.compiled import Compiled, CompiledByLength, stand_in_id, stand_in_moment
from patients.models import Coverage
from scheduling.models import Appointment

from .models import (
    Adjustment,
    Claim,
    ClaimFinding,
    EligibilityBatchRun,
    EligibilityCheck,
    RemittanceClaim,
)

QUEUE_STATUSES = {
    "held": [Claim.Status.HELD],
    "ready": [Claim.Status.READY, Claim.Status.DRAFT],
    "submitted": [Claim.Status.SUBMITTED, Claim.Status.ACCEPTED],
    "rejected": [Claim.Status.REJECTED],
    # "Denied" means denied: partially paid claims were paid in part and need a different
    # look (the adjusted lines), so they get their own tab and the count matches the label.
    "denied": [Claim.Status.DENIED],
    "partially paid": [Claim.Status.PARTIAL],
    "paid": [Claim.Status.PAID],
}


def primary_coverage(*, patient_id: int, on: date) -> Coverage | None:
    """The active primary coverage on a day (dates open at either end count as open)."""
    return primary_coverages(patient_ids=[patient_id], on=on).get(patient_id)


def primary_coverage_checked(
    *, patient_id: int, on: date, checked_since: datetime
) -> tuple[int, bool] | None:
    """The id of ``primary_coverage``, and whether an eligibility check not in error was
    requested for it since ``checked_since``: one narrow read for the real-time check,
    which needs nothing else of the row (a patient has one active primary at most)."""
    for pk, starts, ends, checked in _primaries_checked.rows(
        patient_id=patient_id, checked_since=checked_since
    ):
        if (starts is None or starts <= on) and (ends is None or ends >= on):
            return pk, checked
    return None


def _primaries_checked_query(
    patient_id: int, checked_since: datetime
) -> QuerySet[Coverage, tuple[int, date | None, date | None, bool]]:
    recent = EligibilityCheck.objects.filter(
        coverage_id=OuterRef("pk"), requested_at__gte=checked_since
    ).exclude(status=EligibilityCheck.Status.ERROR)
    return (
        Coverage.objects.filter(
            patient_id=patient_id, active=True, priority=Coverage.Priority.PRIMARY
        )
        .order_by()
        .values_list("pk", "effective_from", "effective_until", Exists(recent))
    )


# Read on every booking and every hold with a caller: compiled once (config.compiled).
_primaries_checked: Compiled[tuple[int, date | None, date | None, bool]] = Compiled(
    _primaries_checked_query, patient_id=stand_in_id(), checked_since=stand_in_moment()
)


def primary_coverages(*, patient_ids: Collection[int], on: date) -> dict[int, Coverage]:
    """``primary_coverage`` for many patients in one query: patient id -> coverage."""
    found: dict[int, Coverage] = {}
    for cov in Coverage.objects.filter(patient_id__in=patient_ids, active=True).select_related(
        "plan__payer"
    ):
        if cov.effective_from and cov.effective_from > on:
            continue
        if cov.effective_until and cov.effective_until < on:
            continue
        if cov.priority == Coverage.Priority.PRIMARY:
            found.setdefault(cov.patient_id, cov)
    return found


def claim_queue(*, tab: str = "held", limit: int = 200) -> tuple[list[Claim], dict[str, int]]:
    statuses = QUEUE_STATUSES.get(tab, QUEUE_STATUSES["held"])
    claims = list(
        Claim.objects.filter(status__in=statuses)
        .select_related("payer", "encounter__location", "encounter__provider")
        .prefetch_related(
            Prefetch("findings", queryset=ClaimFinding.objects.filter(resolved=False))
        )
        .order_by("created_at")[:limit]
    )
    counts = dict(Claim.objects.values_list("status").annotate(n=Count("id")).order_by())
    tabs = {name: sum(counts.get(s, 0) for s in sts) for name, sts in QUEUE_STATUSES.items()}
    return claims, tabs


def claim_detail(*, claim_id: int) -> Claim:
    return (
        Claim.objects.select_related(
            "payer",
            "coverage__plan",
            "batch",
            "encounter__patient",
            "encounter__provider",
            "encounter__location",
            "encounter__appointment",
        )
        .prefetch_related(
            "encounter__diagnoses",
            "encounter__charges",
            "findings",
            "history",
            "remittances__adjustments",
            "remittances__remittance",
        )
        .get(pk=claim_id)
    )


@dataclass
class AppointmentRevenue:
    appointment: Appointment
    checks: list[EligibilityCheck]
    claims: list[Claim]


def appointment_revenue(*, appointment_id: int) -> AppointmentRevenue:
    appt = Appointment.objects.select_related(
        "patient", "provider", "location", "appointment_type"
    ).get(pk=appointment_id)
    checks = list(
        EligibilityCheck.objects.filter(
            Q(appointment=appt) | Q(coverage__patient=appt.patient, appointment__isnull=True)
        )
        .select_related("coverage__plan__payer")
        .order_by("-requested_at")[:10]
    )
    claims = list(
        Claim.objects.filter(encounter__appointment=appt)
        .select_related("payer", "batch")
        .prefetch_related("history", "findings", "remittances__adjustments")
    )
    return AppointmentRevenue(appt, checks, claims)


AGING_BUCKETS = [(0, 30, "0-30"), (31, 60, "31-60"), (61, 90, "61-90"), (91, 120, "91-120")]
OPEN_AR = [
    Claim.Status.SUBMITTED,
    Claim.Status.ACCEPTED,
    Claim.Status.PARTIAL,
    Claim.Status.DENIED,
    Claim.Status.REJECTED,
]


@dataclass
class AgingRow:
    payer: str
    buckets: dict[str, Decimal] = field(default_factory=dict)
    total: Decimal = Decimal("0")
    claims: int = 0


def _bucket(days: int) -> str:
    for low, high, label in AGING_BUCKETS:
        if low <= days <= high:
            return label
    return "120+"


def ar_aging(*, today: date | None = None) -> tuple[list[AgingRow], AgingRow]:
    """Open balances the payers still owe, by payer and age since the date of service.

    Balance = charge - paid - patient responsibility - payer write-offs (CO/OA/PI/CR):
    what neither the payer nor the patient has been billed for or paid yet.
    """
    today = today or timezone.localdate()
    labels = [b[2] for b in AGING_BUCKETS] + ["120+"]
    written_off = dict(
        Adjustment.objects.filter(remittance_claim__claim__status__in=OPEN_AR)
        .exclude(group_code="PR")
        .values_list("remittance_claim__claim_id")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    rows: dict[str, AgingRow] = {}
    total = AgingRow(payer="All payers", buckets=dict.fromkeys(labels, Decimal("0")))
    for claim_id, payer, charge, paid, patient, dos in Claim.objects.filter(
        status__in=OPEN_AR
    ).values_list(
        "id",
        "payer__name",
        "total_charge",
        "paid_amount",
        "patient_responsibility",
        "encounter__date_of_service",
    ):
        balance = charge - paid - patient - written_off.get(claim_id, Decimal("0"))
        if balance <= 0:
            continue
        row = rows.setdefault(
            payer, AgingRow(payer=payer, buckets=dict.fromkeys(labels, Decimal("0")))
        )
        label = _bucket((today - dos).days)
        for r in (row, total):
            r.buckets[label] += balance
            r.total += balance
            r.claims += 1
    return sorted(rows.values(), key=lambda r: r.payer), total


@dataclass
class DenialRow:
    payer: str
    group_code: str
    reason_code: str
    remark_code: str
    count: int
    amount: Decimal


def denial_report() -> tuple[list[DenialRow], list[Claim]]:
    rows = [
        DenialRow(payer or "(unknown)", g, r, rm, n, amt)
        for payer, g, r, rm, n, amt in Adjustment.objects.filter(denied=True)
        .values_list(
            "remittance_claim__remittance__payer__name", "group_code", "reason_code", "remark_code"
        )
        .annotate(n=Count("id"), amt=Sum("amount"))
        .order_by("-n", "reason_code")
    ]
    claims = list(
        Claim.objects.filter(status__in=[Claim.Status.DENIED, Claim.Status.PARTIAL])
        .select_related("payer", "encounter")
        .order_by("-adjudicated_at")[:200]
    )
    return rows, claims


def unmatched_remittance_lines() -> QuerySet[RemittanceClaim]:
    return (
        RemittanceClaim.objects.filter(claim__isnull=True)
        .select_related("remittance__payer")
        .order_by("-remittance__received_at")
    )


def eligibility_overview() -> tuple[list[EligibilityBatchRun], dict[str, int]]:
    runs = list(EligibilityBatchRun.objects.order_by("-started_at")[:20])
    counts: dict[str, int] = defaultdict(int)
    for status, n in (
        EligibilityCheck.objects.values_list("status").annotate(n=Count("id")).order_by()
    ):
        counts[status] = n
    return runs, dict(counts)


def coverage_latest_eligibility(*, coverage_ids: Iterable[int]) -> dict[int, EligibilityCheck]:
    """Coverage id -> its newest eligibility check (pending ones included), for each
    coverage that was ever checked; the console's patient context shows its status."""
    latest: dict[int, EligibilityCheck] = {}
    ids = list(coverage_ids)
    for check in _checks_of.rows(ids=ids) if ids else []:
        latest.setdefault(check.coverage_id, check)
    return latest


# Read for every patient the console opens: compiled per number of coverages.
_checks_of: CompiledByLength[EligibilityCheck] = CompiledByLength(
    lambda ids: EligibilityCheck.objects.filter(coverage_id__in=ids).order_by(
        "coverage_id", "-requested_at"
    ),
    "ids",
)


def next_claim_batch_at(*, now: datetime | None = None) -> datetime | None:
    """When the next 837P batch goes out: the beat schedule's next run of the claims
    submission task after ``now`` (None when beat does not schedule it)."""
    from config.celery import app

    now = now or timezone.now()
    for entry in app.conf.beat_schedule.values():
        if str(entry.get("task", "")).endswith(".claims_submit_task"):
            schedule = entry["schedule"]
            if isinstance(schedule, int | float):
                return now + timedelta(seconds=schedule)
            # A crontab: its next run after a run at ``now`` (remaining_delta's start plus
            # the fast-forward to the next matching minute).
            start, forward, _ = schedule.remaining_delta(now)
            return (start + forward).astimezone(UTC)
    return None
