"""Eligibility on the wire: 270s out to each payer's clearinghouse, 271s back in.

Billing decides which checks to ask and what an answer means (``billing.eligibility``);
this module claims the checks, renders one 270 per payer, sends it, files every file in
the message ledger and hands the 271's answers back as ``billing.types`` dataclasses.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.eligibility import (
    ERR_UNKNOWN_TRACE,
    TRACE_PREFIX,
    eligibility_answers_record,
    eligibility_checks_claim,
    eligibility_checks_fail,
    eligibility_checks_reject_pending,
    eligibility_checks_unclaim,
    trace_for,
)
from billing.eligibility_batch import Throttle, eligibility_batch_run
from billing.models import EligibilityBatchRun, EligibilityCheck
from billing.services import control_number_next
from billing.types import EligibilityError
from integrations.models import Connector, Message
from patients.models import Coverage

from .core import Envelope, X12Error
from .eligibility import VERSION as X279
from .eligibility import build_270, parse_271
from .ledger import x12_mark, x12_record_inbound, x12_record_outbound
from .transport import TransportError, clearinghouse_for, transport_for
from .types import EligibilityInquiry

ERR_NO_CONNECTOR = "No enabled clearinghouse connector for this payer."


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


def eligibility_checks_send(*, check_ids: Iterable[int]) -> SendResult:
    """Send 270s for pending checks (one file per payer) and post any real-time 271s.

    Each check is claimed before its 270 is built, so it is sent at most once however
    often this runs; a worker lost between the claim and the send leaves the check
    pending and claimed (no duplicate 270 to the payer); the nightly batch, which skips
    only checks of the last day, asks again the next night.
    """
    result = SendResult()
    by_payer: dict[int, list[EligibilityCheck]] = defaultdict(list)
    for check in eligibility_checks_claim(check_ids=check_ids):
        by_payer[check.coverage.plan.payer_id].append(check)
    for payer_id, checks in by_payer.items():
        connector = clearinghouse_for(payer_id)
        if connector is None:
            eligibility_checks_fail(checks=checks, reason=ERR_NO_CONNECTOR)
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
                eligibility_checks_unclaim(checks=checks)
                raise
            eligibility_checks_fail(checks=checks, reason=str(exc))
            result.failed += len(checks)
            continue
        x12_record_outbound(raw=raw, connector=connector)
        result.sent += len(checks)
        result.files.append(name)
        for answer in answers:
            outcome = eligibility_response_post(raw=answer.payload, connector=connector)
            result.answered += outcome.updated
    return result


@dataclass
class PostResult:
    updated: int = 0
    unknown: int = 0
    error: str = ""
    duplicate: bool = False
    message_id: int | None = None


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
    recorded = eligibility_answers_record(summaries=summaries, message_id=message.pk)
    if recorded.error:
        result.error = recorded.error
        x12_mark(message, status=Message.Status.REJECTED, error=result.error)
        return result
    result.updated = recorded.updated
    result.unknown = recorded.unknown
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


def _fail_by_reference(reference: str, shared: list[EligibilityError], message: Message) -> int:
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
    return eligibility_checks_reject_pending(
        check_ids=[int(t) for t in traces], errors=shared, message_id=message.pk
    )


def eligibility_batch_send(
    *,
    days: int | None = None,
    throttle: Throttle | None = None,
    on_progress: Callable[[EligibilityBatchRun], None] | None = None,
) -> EligibilityBatchRun:
    """The nightly batch (billing picks and paces the checks), asked through the 270 sender."""
    return eligibility_batch_run(
        send=lambda ids: eligibility_checks_send(check_ids=ids),
        days=days,
        throttle=throttle,
        on_progress=on_progress,
    )
