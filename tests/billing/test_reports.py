"""AR aging and the denial report, from posted remittances."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing import selectors
from billing.models import Claim
from billing.services import encounter_document
from integrations.x12.clearinghouse import remittance_post
from tests.billing import builders as b
from tests.integrations.x12.samples import PAID_AND_DENIED, wrap

pytestmark = pytest.mark.django_db


def _two_claims():
    payer = b.payer(code="SBXDD1")
    out = []
    for number in ("E000000001-1", "E000000002-1"):
        v = b.visit(the_payer=payer)
        claim = encounter_document(doc=b.documentation(v)).claims.get()
        Claim.objects.filter(pk=claim.pk).update(claim_number=number, status=Claim.Status.ACCEPTED)
        out.append(Claim.objects.get(pk=claim.pk))
    return out


def test_ar_aging_shows_what_payers_still_owe_by_age():
    _two_claims()
    remittance_post(raw=wrap("835", PAID_AND_DENIED))

    rows, total = selectors.ar_aging(today=date(2026, 5, 1))

    # Paid in full after write-off and patient share: nothing left. The denied claim's
    # charge (275) less its denied 140-line write-off stays open, 52 days after service.
    (row,) = rows
    assert row.claims == 1 and row.buckets["31-60"] == Decimal("135.00")
    assert total.total == Decimal("135.00")


def test_submitted_claims_age_until_paid():
    _two_claims()
    _rows, total = selectors.ar_aging(today=date(2026, 8, 1))
    assert total.buckets["120+"] == Decimal("550.00") and total.claims == 2


def test_the_denial_report_groups_by_payer_and_reason():
    _two_claims()
    remittance_post(raw=wrap("835", PAID_AND_DENIED))

    rows, claims = selectors.denial_report()

    assert [(r.group_code, r.reason_code, r.remark_code, r.count, r.amount) for r in rows] == [
        ("CO", "50", "N115", 1, Decimal("140.00"))
    ]
    assert [c.claim_number for c in claims] == ["E000000002-1"]
