"""Billing takes a payer's answers as plain dataclasses: no X12 file, no ledger row."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from billing.eligibility import ERR_UNKNOWN_PAYER, eligibility_answers_record, trace_for
from billing.models import Claim, EligibilityCheck
from billing.remittance import remittance_advices_post
from billing.services import encounter_document
from billing.submission import claims_acknowledge
from billing.types import BenefitsSummary, ClaimAck, ClaimPayment, RemittanceAdvice
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def _check(v: b.Visit) -> EligibilityCheck:
    return EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())


def test_a_benefits_summary_answers_its_check():
    v = b.visit()
    check = _check(v)
    summary = BenefitsSummary(
        trace=trace_for(check.pk), payer_code=v.payer.payer_code, active=True, copay=Decimal("25")
    )

    result = eligibility_answers_record(summaries=[summary], message_id=None)

    assert (result.updated, result.unknown, result.error) == (1, 0, "")
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.ACTIVE and check.copay == Decimal("25")


def test_an_answer_from_an_unknown_payer_changes_nothing():
    check = _check(b.visit())
    summary = BenefitsSummary(trace=trace_for(check.pk), payer_code="NOPE", active=True)

    result = eligibility_answers_record(summaries=[summary], message_id=None)

    assert result.error == ERR_UNKNOWN_PAYER.format(code="NOPE") and result.updated == 0
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING


def test_an_answer_naming_no_check_is_counted_as_unknown():
    result = eligibility_answers_record(summaries=[BenefitsSummary(trace="XX1")], message_id=None)

    assert (result.updated, result.unknown) == (0, 1)


def _submitted_claim() -> Claim:
    v = b.visit()
    claim = encounter_document(doc=b.documentation(v)).claims.get()
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.SUBMITTED)
    claim.refresh_from_db()
    return claim


def test_a_277ca_acceptance_moves_the_claim_with_the_payer_claim_number():
    claim = _submitted_claim()
    ack = ClaimAck(claim.claim_number, "A1", "20", accepted=True, payer_claim_number="PCN9")

    result = claims_acknowledge(functional=[], claim_acks=[ack])

    assert (result.accepted, result.rejected) == (1, 0)
    claim.refresh_from_db()
    assert claim.status == Claim.Status.ACCEPTED and claim.payer_claim_number == "PCN9"


def test_a_remittance_advice_posts_its_payment():
    claim = _submitted_claim()
    payment = ClaimPayment(
        clp01=claim.claim_number,
        status_code="1",
        charge=claim.total_charge,
        paid=claim.total_charge,
        patient_responsibility=Decimal("0"),
        payer_claim_number="PCN1",
        adjustments=(),
        services=(),
    )
    advice = RemittanceAdvice(
        payer_name=claim.payer.name,
        payer_code=claim.payer.payer_code,
        trace_number="T1",
        total_paid=claim.total_charge,
        payment_date=None,
        payment_method="ACH",
        claims=(payment,),
    )

    result = remittance_advices_post(advices=[advice], content_hash="0" * 64, message_id=None)

    assert (result.matched, result.posted, result.error) == (1, 1, "")
    claim.refresh_from_db()
    assert claim.status == Claim.Status.PAID and claim.paid_amount == claim.total_charge
