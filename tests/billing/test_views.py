"""The biller's pages: what a person sees and can fix; who may see them."""

from __future__ import annotations

import pytest
from django.utils import timezone

from billing import scrubber as s
from billing.models import Claim, EligibilityCheck
from billing.services import encounter_document
from integrations.models import Connector
from integrations.x12.clearinghouse import clearinghouse_collect, remittance_post
from integrations.x12.submission import claims_submit
from tests.billing import builders as b
from tests.integrations.x12.samples import PAID_AND_DENIED, wrap

pytestmark = pytest.mark.django_db

PAGES = ["/billing/", "/billing/ar/", "/billing/denials/", "/billing/remittances/unmatched/"]


def _login(client, user):
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", [*PAGES, "/billing/eligibility/"])
def test_agents_and_outsiders_are_refused(client, agent, outsider, url):
    for user in (agent, outsider):
        assert _login(client, user).get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_billers_and_admins_see_the_pages(client, biller, admin_user, url):
    for user in (biller, admin_user):
        assert _login(client, user).get(url).status_code == 200


def test_ops_sees_eligibility_progress(client, ops_manager):
    assert _login(client, ops_manager).get("/billing/eligibility/").status_code == 200


def test_a_held_claim_shows_in_the_queue_with_its_reason(client, biller):
    v = b.visit()
    claim = encounter_document(doc=b.documentation(v, diagnoses=("Z01.20", "K02"))).claims.get()

    page = _login(client, biller).get("/billing/").content.decode()

    assert claim.claim_number in page and s.ICD_NOT_BILLABLE in page
    assert "is a category, not a billable code" in page


def test_the_biller_fixes_and_resubmits_a_held_claim(client, biller):
    v = b.visit()
    claim = encounter_document(doc=b.documentation(v, diagnoses=("Z01.20", "K02"))).claims.get()
    url = f"/billing/claims/{claim.pk}/"
    _login(client, biller)
    assert "Save fixes and resubmit" in client.get(url).content.decode()

    response = client.post(
        url,
        {
            "action": "fix",
            "diagnosis": ["Z01.20", "K02.52", ""],
            "line1_code": "D0150",
            "line1_units": "1",
            "line1_pointers": "1",
            "line1_service_date": "2026-03-10",
            "line2_code": "D2391",
            "line2_units": "1",
            "line2_pointers": "2",
            "line2_service_date": "2026-03-10",
            "documentation_ref": "NOTE-1",
        },
        follow=True,
    )

    assert "Clean: the claim joins the next 837P batch, at " in response.content.decode()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY
    assert list(claim.encounter.diagnoses.values_list("code", flat=True)) == ["Z0120", "K0252"]
    assert list(claim.history.values_list("status", "note"))[-2:] == [
        ("draft", "Corrected by biller.test"),
        ("ready", "Scrubber: clean"),
    ]


def test_the_appointment_page_shows_the_round_trip(client, biller, tmp_path):
    v = b.visit()
    connector = Connector.objects.create(
        name="Sandbox",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.CLEARINGHOUSE,
        payer=v.payer,
        endpoint=str(tmp_path),
    )
    EligibilityCheck.objects.create(
        coverage=v.coverage,
        appointment=v.appointment,
        requested_at=timezone.now(),
        status=EligibilityCheck.Status.ACTIVE,
        copay=25,
    )
    encounter_document(doc=b.documentation(v))
    claims_submit()
    clearinghouse_collect(connector=connector)

    page = _login(client, biller).get(f"/billing/appointments/{v.appointment.pk}/").content.decode()

    for text in (
        "Active coverage",
        "$25",
        "by TEST-EHR",
        "Claim created",
        "Submitted",
        "Accepted by payer",
        "837P",
        "835",
    ):
        assert text in page, text


def test_posting_feeds_the_denial_report_and_ar(client, biller):
    v = b.visit()
    claim = encounter_document(doc=b.documentation(v)).claims.get()
    Claim.objects.filter(pk=claim.pk).update(
        claim_number="E000000002-1", status=Claim.Status.ACCEPTED
    )
    v.payer.payer_code = "SBXDD1"
    v.payer.save()

    result = remittance_post(raw=wrap("835", PAID_AND_DENIED))

    assert (result.matched, result.unmatched) == (1, 1)
    _login(client, biller)
    denials = client.get("/billing/denials/").content.decode()
    assert "N115" in denials and "E000000002-1" in denials
    unmatched = client.get("/billing/remittances/unmatched/").content.decode()
    assert "E000000001-1" in unmatched
