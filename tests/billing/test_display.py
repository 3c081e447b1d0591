"""What billers read: money in cents with separators, ICD-10-CM with its dot, times with
their zone, and work-queue tabs whose counts match their labels."""

from __future__ import annotations

import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from billing.models import Adjustment, Claim, EligibilityCheck, Remittance, RemittanceClaim
from billing.services import encounter_document
from tests.billing import builders as b

pytestmark = pytest.mark.django_db

# A dollar amount as shown: $1,036.80 — never $1036.80000000000 or $1125.00.
AMOUNT = re.compile(r"\$\d[\d,]*(?:\.\d+)?")
WELL_FORMED = re.compile(r"\$\d{1,3}(,\d{3})*\.\d{2}")


def _amounts(page: str) -> list[str]:
    return AMOUNT.findall(page)


def _claim():
    v = b.visit()
    return v, encounter_document(doc=b.documentation(v)).claims.get()


def test_the_denial_report_shows_cents_and_separators(client, biller):
    v, claim = _claim()
    Claim.objects.filter(pk=claim.pk).update(status=Claim.Status.DENIED)
    remit = Remittance.objects.create(
        payer=v.payer,
        trace_number="TR1",
        content_hash="h" * 64,
        total_paid=0,
        received_at=timezone.now(),
    )
    rc = RemittanceClaim.objects.create(
        remittance=remit, claim=claim, clp01=claim.claim_number, status_code="4", charge=0, paid=0
    )
    for amount in ("345.6", "345.6", "345.6"):  # sums to 1036.80, which SQL may stretch
        Adjustment.objects.create(
            remittance_claim=rc,
            group_code="CO",
            reason_code="50",
            amount=Decimal(amount),
            denied=True,
        )
    client.force_login(biller)

    page = client.get("/billing/denials/").content.decode()

    assert "$1,036.80" in page
    amounts = _amounts(page)
    assert amounts and all(WELL_FORMED.fullmatch(a) for a in amounts), amounts


def test_the_claim_page_shows_separators_and_dotted_icd_codes(client, biller):
    _, claim = _claim()
    Claim.objects.filter(pk=claim.pk).update(total_charge=Decimal("1125.00"))
    claim.encounter.diagnoses.filter(sequence=1).update(code="K0810")
    client.force_login(biller)

    page = client.get(f"/billing/claims/{claim.pk}/").content.decode()

    assert "Charge $1,125.00" in page
    assert "K08.10" in page and "K0810" not in page
    assert "K02.52" in page
    assert all(WELL_FORMED.fullmatch(a) for a in _amounts(page)), _amounts(page)


def test_eligibility_asked_time_shows_the_location_zone(client, biller):
    v = b.visit()
    asked = timezone.now().replace(microsecond=0)
    EligibilityCheck.objects.create(
        coverage=v.coverage,
        appointment=v.appointment,
        requested_at=asked,
        status=EligibilityCheck.Status.ACTIVE,
        copay=Decimal("1500"),
    )
    client.force_login(biller)

    page = client.get(f"/billing/appointments/{v.appointment.pk}/").content.decode()

    local = asked.astimezone(ZoneInfo(v.location.time_zone))
    assert local.strftime("%Y-%m-%d %H:%M %Z") in page
    assert "$1,500.00" in page


def test_the_denied_tab_counts_and_lists_only_denied_claims(client, biller):
    _, denied = _claim()
    _, partial = _claim()
    Claim.objects.filter(pk=denied.pk).update(status=Claim.Status.DENIED)
    Claim.objects.filter(pk=partial.pk).update(status=Claim.Status.PARTIAL)
    client.force_login(biller)

    page = client.get("/billing/?tab=denied").content.decode()

    assert "Denied (1)" in page
    assert denied.claim_number in page and partial.claim_number not in page
    assert "Partially paid (1)" in page
    partial_page = client.get("/billing/?tab=partially+paid").content.decode()
    assert partial.claim_number in partial_page and denied.claim_number not in partial_page
