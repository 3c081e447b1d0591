"""Eligibility decisions: when a coverage needs a check, and what a payer's answer does.

A check is a row first (PENDING) and a 270 second: the row's id is the TRN trace the
payer echoes, so an answer arriving later (mailbox) or at once (sandbox) finds its row.
The 270/271 exchange is the clearinghouse side's job (``integrations/x12/``); it claims
checks, and records answers, through the services here. Checks created for a hold or a
booking are announced with ``eligibility_checks_requested`` so that side sends them
after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from config.audit import audit_creates, audit_updates
from config.fastsql import update_rows, values_of
from patients.models import Coverage
from scheduling.models import Appointment

from .fastsql import claim_rows
from .models import EligibilityCheck, Payer
from .selectors import primary_coverage_checked, primary_coverages
from .signals import eligibility_checks_requested
from .types import BenefitsSummary, EligibilityError

TRACE_PREFIX = "EC"
ERR_UNKNOWN_TRACE = "The 271 answers no eligibility check the hub sent."
ERR_UNKNOWN_PAYER = "The 271 comes from a payer the hub does not know ({code})."


def trace_for(check_id: int) -> str:
    return f"{TRACE_PREFIX}{check_id}"


def check_id_for(trace: str) -> int | None:
    """The check a TRN02 trace names, or None for a trace the hub did not write."""
    rest = trace[len(TRACE_PREFIX) :]
    return int(rest) if trace.startswith(TRACE_PREFIX) and rest.isdigit() else None


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


def eligibility_checks_claim(*, check_ids: Iterable[int]) -> list[EligibilityCheck]:
    """Claim the pending checks nobody has sent yet; only the caller that wins sends them.

    A Celery redelivery (acks_late, worker lost) or a second run of the same task while a
    mailbox answer is still on its way finds ``sent_at`` set and gets nothing back.
    Returns the claimed checks, with what a 270 needs loaded, in id order.
    """
    claimed = claim_rows(
        EligibilityCheck,
        list(check_ids),
        name="sent_at",
        value=timezone.now(),
        where={"status": EligibilityCheck.Status.PENDING},
    )
    checks = list(
        EligibilityCheck.objects.filter(pk__in=claimed, status=EligibilityCheck.Status.PENDING)
        .select_related(
            "coverage__patient",
            "coverage__plan__payer",
            "appointment__location",
            "appointment__provider",
        )
        .order_by("pk")
    )
    audit_updates(
        EligibilityCheck, ((c.pk, str(c), {"sent_at": (None, c.sent_at)}) for c in checks)
    )
    return checks


def eligibility_checks_unclaim(*, checks: list[EligibilityCheck]) -> None:
    """The 270 never left (transient transport error): let the retry claim them again."""
    EligibilityCheck.objects.filter(
        pk__in=[c.pk for c in checks], status=EligibilityCheck.Status.PENDING
    ).update(sent_at=None)
    audit_updates(
        EligibilityCheck, ((c.pk, str(c), {"sent_at": (c.sent_at, None)}) for c in checks)
    )


def eligibility_checks_fail(*, checks: list[EligibilityCheck], reason: str) -> None:
    """Answer checks that could not be asked (no connector, a permanent transport error)."""
    _fail(checks, _reason(reason))


def eligibility_checks_reject_pending(
    *, check_ids: Sequence[int], errors: Sequence[EligibilityError], message_id: int
) -> int:
    """A payer-level rejection (AAA at 2100A/B) answers every still-pending check it covers.

    Caller holds a transaction. Returns how many checks it answered.
    """
    checks = list(
        EligibilityCheck.objects.select_for_update().filter(
            pk__in=list(check_ids), status=EligibilityCheck.Status.PENDING
        )
    )
    _fail(checks, _error_dicts(errors), message_id)
    return len(checks)


def _fail(
    checks: list[EligibilityCheck], errors: list[dict], message_id: int | None = None
) -> None:
    """Answer checks with an error, written and audited like any other answer."""
    before = {c.pk: values_of(c, APPLIED_FIELDS) for c in checks}
    now = timezone.now()
    for check in checks:
        check.status = EligibilityCheck.Status.ERROR
        check.responded_at = now
        check.errors = errors
        check.message_id = message_id or check.message_id
    _write_answers(checks, before)


def _reason(text: str) -> list[dict]:
    return [{"loop": "", "code": "", "message": text}]


def _error_dicts(errors: Iterable[EligibilityError]) -> list[dict]:
    return [
        {"loop": e.loop, "code": e.code, "message": e.message, "follow_up": e.follow_up}
        for e in errors
    ]


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


def _apply(check: EligibilityCheck, summary: BenefitsSummary, message_id: int | None) -> None:
    check.responded_at = timezone.now()
    check.message_id = message_id
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


@dataclass
class AnswersRecorded:
    updated: int = 0
    unknown: int = 0  # answers whose trace names no check
    error: str = ""  # set when the whole file was refused; nothing changed then


def eligibility_answers_record(
    *, summaries: Sequence[BenefitsSummary], message_id: int | None
) -> AnswersRecorded:
    """Update the checks a payer's answers name (by trace). Caller holds a transaction.

    An answer from a payer the hub does not know refuses the whole file.
    """
    result = AnswersRecorded()
    payer_codes = {s.payer_code for s in summaries if s.payer_code}
    unknown = payer_codes - set(
        Payer.objects.filter(payer_code__in=payer_codes).values_list("payer_code", flat=True)
    )
    if unknown:
        result.error = ERR_UNKNOWN_PAYER.format(code=", ".join(sorted(unknown)))
        return result
    ids = {check_id: s for s in summaries if (check_id := check_id_for(s.trace)) is not None}
    checks = list(EligibilityCheck.objects.select_for_update().filter(pk__in=ids))
    before = {c.pk: values_of(c, APPLIED_FIELDS) for c in checks}
    for check in checks:
        _apply(check, ids[check.pk], message_id)
    # One executemany per batch instead of a save per row (a nightly 271 answers
    # thousands of checks), with the audit entries written in bulk beside it.
    _write_answers(checks, before)
    result.updated = len(checks)
    result.unknown = len(summaries) - result.updated
    return result


# ---------------------------------------------------------------------------
# Real time: a hold placed, a booking made
# ---------------------------------------------------------------------------
def eligibility_check_for_hold(
    *, patient_id: int, appointment: Appointment | None = None
) -> int | None:
    """Create a pending check when the patient's coverage was not checked recently.

    The new check is announced (``eligibility_checks_requested``) inside the caller's
    transaction, so it is sent only if that transaction commits. Returns its id, or None.
    """
    # The coverage and whether a check makes another pointless (``check_is_fresh``), in
    # one read.
    now = timezone.now()
    found = primary_coverage_checked(
        patient_id=patient_id,
        on=timezone.localdate(),
        checked_since=now - timedelta(days=settings.ELIGIBILITY_STALE_DAYS),
    )
    if found is None or found[1]:
        return None
    check_id = EligibilityCheck.objects.create(
        coverage_id=found[0], appointment=appointment, requested_at=now
    ).pk
    eligibility_checks_requested.send(sender=EligibilityCheck, check_ids=[check_id])
    return check_id


def eligibility_checks_for_bookings(*, appointments: Sequence[Appointment]) -> list[int]:
    """``eligibility_check_for_hold`` for a batch of bookings, in their order: a pending
    check for each booking whose primary coverage was not checked recently (the first
    booking of a coverage makes it fresh for the rest). Announces and returns the ids."""
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
    check_ids = [c.pk for c in checks]
    if check_ids:
        eligibility_checks_requested.send(sender=EligibilityCheck, check_ids=check_ids)
    return check_ids
