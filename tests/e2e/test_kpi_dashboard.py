"""An ops manager opens the KPI dashboard, filters it, drills down and exports, in chromium."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from tests.kpi import dataset
from tests.mfa import totp_code, totp_device

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
# test body (fixtures) are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The hand-made network of the KPI tests, as a fixture here too.
kpi_net = dataset.kpi_net

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ops_manager_filters_drills_down_and_exports(
    live_server,
    ops_manager: User,
    kpi_net,
    artifacts_dir,
):
    device = totp_device(ops_manager)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{live_server.url}/accounts/login/?next=/kpi/")
            page.fill("input[name=username]", ops_manager.username)
            page.fill("input[name=password]", "pw-for-tests-only")
            page.click("button[type=submit]")
            # The role signs in with a second factor: the code the authenticator shows.
            page.fill("input[name=code]", totp_code(device))
            page.press("input[name=code]", "Enter")
            expect(page.locator("h1")).to_have_text("Overview")

            page.click(".kpi-nav >> text=Access")
            expect(page.locator("h1")).to_have_text("Access")
            page.fill("input[name=date_from]", "2026-03-01")
            page.fill("input[name=date_to]", "2026-03-10")
            page.select_option("select[name=location]", label="Aurora")
            page.click("button:has-text('Apply')")
            # htmx swapped the content and pushed the filters into the URL (ids only).
            expect(page.locator(".kpi-period")).to_contain_text("2026-03-01")
            assert f"location={kpi_net.l1.pk}" in page.url
            calls = page.locator("[data-metric=calls] .value")
            expect(calls).to_have_text("2")  # only patient A lives near Aurora
            expect(page.locator("[data-metric=bookings] .value")).to_have_text("3")
            page.screenshot(path=os.path.join(artifacts_dir, "kpi-access.png"), full_page=True)

            page.locator("[data-metric=bookings] .value a").click()
            expect(page.locator("h1")).to_have_text("Bookings")
            expect(page.locator("[data-table=drill] h2")).to_contain_text("3 rows")
            with page.expect_download() as download_info:
                page.click("text=Export CSV")
            path = download_info.value.path()
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().strip().splitlines()
            assert lines[0].startswith("Appointment,Created,Start,Location")
            assert len(lines) == 4 and all("Aurora" in line for line in lines[1:])
            page.screenshot(path=os.path.join(artifacts_dir, "kpi-drill.png"), full_page=True)
        finally:
            browser.close()
