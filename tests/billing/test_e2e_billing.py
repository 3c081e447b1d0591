"""A biller, in a real browser, fixes a claim the scrubber stopped and sends it on its way."""

from __future__ import annotations

import os

import pytest

from billing.models import Claim
from billing.services import encounter_document
from tests.billing import builders as b
from tests.mfa import totp_code, totp_device

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_biller_fixes_a_held_claim_in_the_browser(live_server, biller, artifacts_dir):
    from playwright.sync_api import sync_playwright

    v = b.visit()
    claim = encounter_document(doc=b.documentation(v, diagnoses=("Z01.20", "K02"))).claims.get()
    assert claim.status == Claim.Status.HELD

    device = totp_device(biller)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("input[name=username]", "biller.test")
            page.fill("input[name=password]", "pw-for-tests-only")
            page.click("button[type=submit]")
            # Billers sign in with a second factor: the code the authenticator shows.
            page.fill("input[name=code]", totp_code(device))
            page.press("input[name=code]", "Enter")
            # One workplace: the biller lands on the claim queue.
            page.wait_for_url(f"{live_server.url}/billing/")
            page.goto(f"{live_server.url}/billing/")
            assert "is a category, not a billable code" in page.content()

            page.click(f"text={claim.claim_number}")
            page.fill("input[aria-label='Diagnosis 2']", "K02.52")
            page.click("text=Save fixes and resubmit")
            page.wait_for_selector("text=Clean: the claim joins the next 837P batch, at")
            page.screenshot(
                path=os.path.join(artifacts_dir, "billing_claim_fixed.png"), full_page=True
            )
        finally:
            browser.close()

    claim.refresh_from_db()
    assert claim.status == Claim.Status.READY
