"""835 files in the styles real payers send them (integrations/x12/remittance.py)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from integrations.x12.core import X12Error
from integrations.x12.remittance import ERR_CLP_TOTAL, ERR_NO_PAYER, parse_835
from tests.integrations.x12.samples import MEDICAID_835, PAID_AND_DENIED, REVERSAL, wrap


def test_an_835_with_paid_and_denied_claims():
    (advice,) = parse_835(wrap("835", PAID_AND_DENIED))
    assert advice.payer_code == "SBXDD1" and advice.trace_number == "TRACE001"
    assert advice.total_paid == Decimal("160.8") and advice.payment_date == date(2026, 3, 20)
    paid, denied = advice.claims
    assert paid.status_code == "1" and paid.patient_responsibility == Decimal("38")
    assert [(a.group, a.reason, a.amount) for a in paid.services[1].adjustments] == [
        ("CO", "45", Decimal("57.2")),
        ("PR", "1", Decimal("22.8")),
    ]
    assert paid.services[1].modifiers == ("TH",)
    assert denied.status_code == "4" and denied.services[0].remarks == ("N115",)


def test_an_835_reversal_and_correction():
    (advice,) = parse_835(wrap("835", REVERSAL))
    reversal, correction = advice.claims
    assert reversal.status_code == "22" and reversal.paid == Decimal("-160.8")
    assert reversal.adjustments[0].amount == Decimal("-76.2")
    assert correction.payer_claim_number == "PCN1B"
    assert advice.payer_code == "SBXDD1"


def test_an_835_that_does_not_balance_is_refused():
    raw = wrap("835", PAID_AND_DENIED.replace("BPR*I*160.8", "BPR*I*999"))
    with pytest.raises(X12Error) as exc:
        parse_835(raw)
    assert str(exc.value) == ERR_CLP_TOTAL.format(
        bpr=Decimal("999"), claims=Decimal("160.8"), plb=Decimal("0")
    )


def test_an_835_without_payer_is_refused():
    body = PAID_AND_DENIED.replace("N1*PR*DELTA DENTAL~", "").replace("REF*2U*SBXDD1~", "")
    body = body.replace("TRN*1*TRACE001*1512345678~", "TRN*1*TRACE001~")
    with pytest.raises(X12Error, match=re.escape(ERR_NO_PAYER)):
        parse_835(wrap("835", body))


def test_a_medicaid_835_with_a_provider_level_adjustment_balances():
    (advice,) = parse_835(wrap("835", MEDICAID_835))
    assert advice.payer_code == "SBXTXM" and advice.total_paid == Decimal("95")
    (claim,) = advice.claims
    assert claim.paid == Decimal("120") and claim.remarks == ("MA01", "N130")
    assert claim.services[0].adjustments[0].reason == "45"
