"""271 files in the styles real payers send them (integrations/x12/eligibility.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from integrations.x12.eligibility import parse_271
from tests.integrations.x12.samples import (
    DELTA_STYLE,
    INACTIVE,
    MEDICAID_STYLE,
    PAYER_AAA,
    SUBSCRIBER_AAA,
    wrap,
)


def test_a_commercial_271_with_several_eb_loops():
    (s,), shared, reference = parse_271(wrap("271", DELTA_STYLE))
    assert shared == [] and reference == "ELIG12"
    assert s.trace == "EC41" and s.member_id == "DD100" and s.payer_code == "SBXDD1"
    assert s.active is True and s.plan_name == "DENTAL PPO"
    assert (s.plan_begin, s.plan_end) == (date(2026, 1, 1), date(2026, 12, 31))
    assert s.copay == Decimal("25")
    # Remaining (29) for the individual wins over the family and calendar-year totals.
    assert s.deductible_remaining == Decimal("12.5")
    # In-network coinsurance (EB12=Y) wins over out-of-network; 0.2 means 20 %.
    assert s.coinsurance_percent == Decimal("20.00")
    assert len(s.benefits) == 7


def test_a_medicaid_271_answers_for_the_dependent():
    (s,), _, _ = parse_271(wrap("271", MEDICAID_STYLE))
    assert s.trace == "EC42" and s.active is True
    assert (s.plan_begin, s.plan_end) == (date(2025, 9, 1), date(2026, 8, 31))
    assert s.coinsurance_percent == Decimal("20.00")
    assert s.copay is None and s.deductible_remaining is None


def test_an_inactive_271():
    (s,), _, _ = parse_271(wrap("271", INACTIVE))
    assert s.active is False and s.plan_end == date(2025, 12, 31)


def test_aaa_rejections_at_the_subscriber_level():
    first, second = parse_271(wrap("271", SUBSCRIBER_AAA))[0]
    assert first.active is None
    assert [(e.loop, e.code, e.message) for e in first.errors] == [
        ("2100C", "75", "Subscriber / insured not found")
    ]
    assert second.errors[0].code == "72" and second.trace == "EC45"


def test_an_aaa_rejection_at_the_payer_level_concerns_the_whole_file():
    summaries, shared, reference = parse_271(wrap("271", PAYER_AAA))
    assert summaries == [] and reference == "ELIG99"
    assert [(e.loop, e.code) for e in shared] == [("2100A", "42")]


def test_other_delimiters_are_read_from_the_isa():
    raw = wrap("271", DELTA_STYLE, delimiters="|>\n")
    (s,), _, _ = parse_271(raw)
    assert s.copay == Decimal("25") and s.trace == "EC41"
