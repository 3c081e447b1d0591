"""A privacy officer reads one patient's accounting of disclosures in chromium and
downloads it: the patient id never reaches the address bar."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from config.audit import audit_access
from tests import factories as f
from tests.mfa import browser_sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_privacy_officer_reads_and_exports_the_accounting(
    live_server, compliance_officer: User, agent: User, artifacts_dir
):
    patient = f.patient(first_name="Noor", last_name="Haddad")
    audit_access(actor=agent, instances=[patient])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            browser_sign_in(
                page, live_server.url, compliance_officer, "/compliance/", "pw-for-tests-only"
            )

            page.fill("input[name=patient_id]", str(patient.pk))
            page.click("button:text('Show')")
            rows = page.locator("#disclosures tbody tr")
            expect(rows.first).to_contain_text("created")  # oldest first
            expect(rows.filter(has_text="agent.test")).to_contain_text("viewed")
            assert page.url.rstrip("/").endswith("/compliance")
            assert str(patient.pk) not in page.url.split("/compliance")[1]

            with page.expect_download() as download:
                page.click("button:text('Export CSV')")
            text = Path(download.value.path()).read_text(encoding="utf-8")
            assert "agent.test" in text and "viewed" in text
            page.screenshot(path=os.path.join(artifacts_dir, "compliance-accounting.png"))
        finally:
            browser.close()
