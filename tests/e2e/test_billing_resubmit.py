"""A biller resubmits a denied claim unchanged: the browser asks first and says when the
next 837P batch goes out."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from billing.models import Claim
from billing.services import claim_status_set, encounter_document
from tests.billing import builders as b
from tests.mfa import browser_sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_resubmit_unchanged_asks_for_confirmation_and_names_the_next_batch(
    live_server, biller: User, artifacts_dir
):
    visit = b.visit()
    claim = encounter_document(doc=b.documentation(visit)).claims.get()
    claim_status_set(claim=claim, status=Claim.Status.DENIED, note="CO-50 not medically necessary")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            browser_sign_in(
                page, live_server.url, biller, f"/billing/claims/{claim.pk}/", "pw-for-tests-only"
            )

            page.click("button:has-text('Resubmit unchanged')")

            dialog = page.locator("#confirm-resubmit")
            expect(dialog).to_be_visible()
            expect(dialog).to_contain_text("joins the next 837P batch to the clearinghouse, at ")
            claim.refresh_from_db()
            assert claim.status == Claim.Status.DENIED, "nothing happens before the confirmation"
            page.screenshot(path=os.path.join(artifacts_dir, "billing-resubmit-confirm.png"))

            dialog.locator("button:has-text('Yes, resubmit')").click()

            expect(page.locator("body")).to_contain_text("joins the next 837P batch, at ")
            claim.refresh_from_db()
            assert claim.status == Claim.Status.READY
        finally:
            browser.close()
