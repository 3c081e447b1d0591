"""Eligibility: real-time checks when a hold is placed, the nightly batch, and 271 posting.

A check is a row first (PENDING) and a 270 second: the row's id is the TRN trace the
payer echoes, so an answer arriving later (mailbox) or at once (sandbox) finds its row.
"""

from __future__ import annotations

import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.audit import audit_creates, audit_updates
from integrations.models import Connector, Message
from integrations.x12.core import Envelope, X12Error
from integrations.x12.eligibility import VERSION as X279
from integrations.x12.eligibility import build_270, parse_271
from integrations.x12.ledger import x12_mark, x12_record_inbound, x12_record_outbound
from integrations.x12.transport import TransportError, transport_for
from integrations.x12.types import BenefitsSummary, EligibilityInquiry
from patients.models import Coverage
from scheduling.models import Appointment

from .fastsql import claim_rows, update_rows, values_of
from .models import EligibilityBatchRun, EligibilityCheck, Payer
from .services import control_number_next, primary_coverage, primary_coverages

log = logging.getLogger(__name__)

TRACE_PREFIX = "EC"
ERR_NO_CONNECTOR = "No enabled clearinghouse connector for this payer."
ERR_UNKNOWN_TRACE = "The 271 answers no eligibility check the hub sent."
ERR_UNKNOWN_PAYER = "The 271 comes from a payer the hub does not know ({code})."


def trace_for(check_id: int) -> str:
    return f"{TRACE_PREFIX}{check_id}"


def clearinghouse_for(payer_id: int) -> Connector | None:
    """The payer's own clearinghouse connector, else a general one (no payer set)."""
    qs = Connector.objects.filter(role=Connector.Role.CLEARINGHOUSE, enabled=True)
    return (
        qs.filter(payer_id=payer_id).order_by("id").first()
        or qs.filter(payer__isnull=True).order_by("id").first()
    )


def check_is_fresh(*, coverage_id: int, days: int, now: datetime | None = None) -> bool:
    """A check answered (or still in flight) within ``days`` makes another one pointless."""
    since = (now or timezone.now()) - timedelta(days=days)
    return (
        EligibilityCheck.objects.filter(coverage_id=coverage_id, requested_at__gte=since)
        .exclude(status=EligibilityCheck.Status.ERROR)
        .exists()
    )


def eligibility_check_request(
    *, coverage: Coverage, appointment: Appointment | None = None
) -> EligibilityCheck:
    return EligibilityCheck.objects.create(
        coverage=coverage, appointment=appointment, requested_at=timezone.now()
    )


def _inquiry(check: EligibilityCheck, provider_name: str, provider_npi: str) -> EligibilityInquiry:
    cov = check.coverage
    patient = cov.patient
    self_ = cov.relationship == Coverage.Relationship.SELF
    service_date = (
        check.appointment.location.local(check.appointment.start).date()
        if check.appointment is not None
        else timezone.localdate()
    )
    return EligibilityInquiry(
        trace=trace_for(check.pk),
        payer_name=cov.plan.payer.name,
        payer_code=cov.plan.payer.payer_code,
        provider_name=provider_name,
        provider_npi=provider_npi,
        member_id=cov.member_id,
        # The 270 asks about the subscriber (2100C); without subscriber details on file
        # the patient's own name is the best the payer can match on.
        first_name=cov.subscriber_first_name or patient.first_name,
        last_name=cov.subscriber_last_name or patient.last_name,
        date_of_birth=(cov.subscriber_dob or patient.date_of_birth)
        if self_
        else cov.subscriber_dob,
        service_date=service_date,
    )


@dataclass
class SendResult:
    sent: int = 0
    answered: int = 0
    failed: int = 0
    files: list[str] = field(default_factory=list)


def _load(check_ids: Iterable[int]) -> list[EligibilityCheck]:
    return list(
        EligibilityCheck.objects.filter(
            pk__in=list(check_ids), status=EligibilityCheck.Status.PENDING
        )
        .select_related(
            "coverage__patient",
            "coverage__plan__payer",
            "appointment__location",
            "appointment__provider",
        )
        .order_by("pk")
    )


def build_inquiry_file(checks: list[EligibilityCheck]) -> tuple[str, int]:
    """One 270 for checks of one payer; returns (X12, interchange control number)."""
    first = checks[0]
    location = first.appointment.location if first.appointment else None
    # A check made while a slot is only held has no appointment yet: it asks as the
    # group (2100B) under the group's organization NPI.
    provider_name = location.name if location else settings.X12_GROUP_NAME
    provider_npi = location.npi if location and location.npi else settings.X12_GROUP_NPI
    control = control_number_next()
    env = Envelope(
        sender_id=settings.X12_SENDER_ID,
        receiver_id=first.coverage.plan.payer.payer_code,
        interchange_control=control,
        group_control=control,
        functional_id="HS",
        version=X279,
        at=timezone.now(),
        usage=settings.X12_USAGE_INDICATOR,
    )
    inquiries = [_inquiry(c, provider_name, provider_npi) for c in checks]
    return build_270(inquiries, env=env, reference=f"ELIG{control}"), control


def _claim(check_ids: Iterable[int]) -> list[int]:
    """Claim the pending checks nobody has sent yet; only the caller that wins sends them.

    A Celery redelivery (acks_late, worker lost) or a second run of the same task while a
    mailbox answer is still on its way finds ``sent_at`` set and sends nothing.
    """
    return claim_rows(
        EligibilityCheck,
        list(check_ids),
        name="sent_at",
        value=timezone.now(),
        where={"status": EligibilityCheck.Status.PENDING},
    )


def _unclaim(checks: list[EligibilityCheck]) -> None:
    # The 270 never left (transient transport error): let the retry claim them again.
    EligibilityCheck.objects.filter(
        pk__in=[c.pk for c in checks], status=EligibilityCheck.Status.PENDING
    ).update(sent_at=None)
    audit_updates(
        EligibilityCheck, ((c.pk, str(c), {"sent_at": (c.sent_at, None)}) for c in checks)
    )


def eligibility_checks_send(*, check_ids: Iterable[int]) -> SendResult:
    """Send 270s for pending checks (one file per payer) and post any real-time 271s.

    Each check is claimed before its 270 is built, so it is sent at most once however
    often this runs; a worker lost between the claim and the send leaves the check
    pending and claimed (no duplicate 270 to the payer); the nightly batch, which skips
    only checks of the last day, asks again the next night.
    """
    result = SendResult()
    by_payer: dict[int, list[EligibilityCheck]] = defaultdict(list)
    claimed = _load(_claim(check_ids))
    audit_updates(
        EligibilityCheck, ((c.pk, str(c), {"sent_at": (None, c.sent_at)}) for c in claimed)
    )
    for check in claimed:
        by_payer[check.coverage.plan.payer_id].append(check)
    for payer_id, checks in by_payer.items():
        connector = clearinghouse_for(payer_id)
        if connector is None:
            _fail(checks, _reason(ERR_NO_CONNECTOR))
            result.failed += len(checks)
            continue
        raw, control = build_inquiry_file(checks)
        name = f"270_{control:09d}.x12"
        try:
            transport = transport_for(connector)
            answers = transport.submit(name=name, payload=raw)
        except TransportError as exc:
            x12_record_outbound(
                raw=raw, connector=connector, status=Message.Status.FAILED, error=str(exc)
            )
            if not exc.permanent:
                _unclaim(checks)
                raise
            _fail(checks, _reason(str(exc)))
            result.failed += len(checks)
            continue
        x12_record_outbound(raw=raw, connector=connector)
        result.sent += len(checks)
        result.files.append(name)
        for answer in answers:
            outcome = eligibility_response_post(raw=answer.payload, connector=connector)
            result.answered += outcome.updated
    return result


def _fail(
    checks: list[EligibilityCheck], errors: list[dict], message: Message | None = None
) -> None:
    """Answer checks with an error (no connector, a permanent transport failure, or a
    payer-level AAA), written and audited like any other answer."""
    before = {c.pk: values_of(c, APPLIED_FIELDS) for c in checks}
    now = timezone.now()
    for check in checks:
        check.status = EligibilityCheck.Status.ERROR
        check.responded_at = now
        check.errors = errors
        check.message = message or check.message
    _write_answers(checks, before)


def _reason(text: str) -> list[dict]:
    return [{"loop": "", "code": "", "message": text}]


def _error_dicts(errors: Iterable) -> list[dict]:
    return [
        {"loop": e.loop, "code": e.code, "message": e.message, "follow_up": e.follow_up}
        for e in errors
    ]


@dataclass
class PostResult:
    updated: int = 0
    unknown: int = 0
    error: str = ""
    duplicate: bool = False
    message_id: int | None = None


APPLIED_FIELDS = [
    "responded_at",
    "message",
    "plan_begin",
    "plan_end",
    "copay",
    "deductible_remaining",
    "coinsurance_percent",
    "errors",
    "status",
]


def _write_answers(checks: list[EligibilityCheck], before: dict[int, list]) -> None:
    """One executemany for the batch, and the audit entries auditlog's save would write."""
    after = {c.pk: values_of(c, APPLIED_FIELDS) for c in checks}
    update_rows(EligibilityCheck, APPLIED_FIELDS, after.items())
    audit_updates(
        EligibilityCheck,
        (
            (
                c.pk,
                str(c),
                dict(zip(APPLIED_FIELDS, zip(before[c.pk], after[c.pk], strict=True), strict=True)),
            )
            for c in checks
        ),
    )


def _apply(check: EligibilityCheck, summary: BenefitsSummary, message: Message) -> None:
    check.responded_at = timezone.now()
    check.message = message
    check.plan_begin = summary.plan_begin
    check.plan_end = summary.plan_end
    check.copay = summary.copay
    check.deductible_remaining = summary.deductible_remaining
    check.coinsurance_percent = summary.coinsurance_percent
    check.errors = _error_dicts(summary.errors)
    if summary.active is True:
        check.status = EligibilityCheck.Status.ACTIVE
    elif summary.active is False:
        check.status = EligibilityCheck.Status.INACTIVE
    else:
        check.status = EligibilityCheck.Status.ERROR


@transaction.atomic
def eligibility_response_post(*, raw: str, connector: Connector | None) -> PostResult:
    """File a 271 and update the checks it answers. Malformed: filed, rejected, nothing changed."""
    message, created = x12_record_inbound(raw=raw, connector=connector)
    result = PostResult(message_id=message.pk)
    if not created and message.status != Message.Status.RECEIVED:
        result.duplicate = True
        return result
    try:
        summaries, shared, reference = parse_271(raw)
    except X12Error as exc:
        x12_mark(message, status=Message.Status.REJECTED, error=str(exc))
        result.error = str(exc)
        return result
    payer_codes = {s.payer_code for s in summaries if s.payer_code}
    unknown = payer_codes - set(
        Payer.objects.filter(payer_code__in=payer_codes).values_list("payer_code", flat=True)
    )
    if unknown:
        result.error = ERR_UNKNOWN_PAYER.format(code=", ".join(sorted(unknown)))
        x12_mark(message, status=Message.Status.REJECTED, error=result.error)
        return result
    ids = {
        int(s.trace[len(TRACE_PREFIX) :]): s
        for s in summaries
        if s.trace.startswith(TRACE_PREFIX) and s.trace[len(TRACE_PREFIX) :].isdigit()
    }
    checks = list(EligibilityCheck.objects.select_for_update().filter(pk__in=ids))
    before = {c.pk: values_of(c, APPLIED_FIELDS) for c in checks}
    for check in checks:
        _apply(check, ids[check.pk], message)
    # One executemany per batch instead of a save per row (a nightly 271 answers
    # thousands of checks), with the audit entries written in bulk beside it.
    _write_answers(checks, before)
    result.updated += len(checks)
    result.unknown = len(summaries) - result.updated
    if not summaries and shared:
        # A payer-level rejection (AAA at 2100A/B) names no subscriber: it answers every
        # check of the 270 whose reference (BHT03) it echoes.
        result.updated += _fail_by_reference(reference, shared, message)
        if not result.updated:
            result.error = "; ".join(f"{e.code} {e.message}" for e in shared)
    if result.updated == 0 and not result.error:
        result.error = ERR_UNKNOWN_TRACE
    x12_mark(
        message,
        status=Message.Status.PROCESSED if result.updated else Message.Status.REJECTED,
        error="" if result.updated else result.error,
    )
    return result


def _fail_by_reference(reference: str, shared: list, message: Message) -> int:
    if not reference.startswith("ELIG") or not reference[4:].isdigit():
        return 0
    sent = Message.objects.filter(
        direction=Message.Direction.OUTBOUND,
        protocol=Message.Protocol.X12,
        message_type="270",
        control_id=f"{int(reference[4:]):09d}",
    ).first()
    if sent is None:
        return 0
    traces = re.findall(r"TRN\*1\*" + TRACE_PREFIX + r"(\d+)\*", sent.raw)
    checks = list(
        EligibilityCheck.objects.select_for_update().filter(
            pk__in=[int(t) for t in traces], status=EligibilityCheck.Status.PENDING
        )
    )
    _fail(checks, _error_dicts(shared), message)
    return len(checks)


# ---------------------------------------------------------------------------
# Real time (hold placed) and the nightly batch
# ---------------------------------------------------------------------------
def eligibility_check_for_hold(
    *, patient_id: int, appointment: Appointment | None = None
) -> int | None:
    """Create a pending check when the patient's coverage was not checked recently.

    Returns the check id for the caller to send after commit, or None.
    """
    coverage = primary_coverage(patient_id=patient_id, on=timezone.localdate())
    if coverage is None:
        return None
    if check_is_fresh(coverage_id=coverage.pk, days=settings.ELIGIBILITY_STALE_DAYS):
        return None
    return eligibility_check_request(coverage=coverage, appointment=appointment).pk


def eligibility_checks_for_bookings(*, appointments: Sequence[Appointment]) -> list[int]:
    """``eligibility_check_for_hold`` for a batch of bookings, in their order: a pending
    check for each booking whose primary coverage was not checked recently (the first
    booking of a coverage makes it fresh for the rest). Returns the ids to send."""
    primaries = primary_coverages(
        patient_ids={a.patient_id for a in appointments}, on=timezone.localdate()
    )
    if not primaries:
        return []
    now = timezone.now()
    since = now - timedelta(days=settings.ELIGIBILITY_STALE_DAYS)
    fresh = set(
        EligibilityCheck.objects.filter(
            coverage_id__in=[c.pk for c in primaries.values()], requested_at__gte=since
        )
        .exclude(status=EligibilityCheck.Status.ERROR)
        .values_list("coverage_id", flat=True)
    )
    checks = []
    for appointment in appointments:
        coverage = primaries.get(appointment.patient_id)
        if coverage is None or coverage.pk in fresh:
            continue
        fresh.add(coverage.pk)
        checks.append(
            EligibilityCheck(coverage=coverage, appointment=appointment, requested_at=now)
        )
    EligibilityCheck.objects.bulk_create(checks)
    audit_creates(checks)
    return [c.pk for c in checks]


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
    days: int | None = None,
    throttle: Throttle | None = None,
    on_progress: Callable[[EligibilityBatchRun], None] | None = None,
) -> EligibilityBatchRun:
    """Check every appointment in the next ``days`` days, throttled per payer.

    Appointments whose coverage was checked in the last day are skipped. The run row's
    counters are committed after every payer chunk, so ops sees progress while it runs.
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
                eligibility_checks_send(check_ids=chunk)
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
