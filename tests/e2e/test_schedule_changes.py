"""Ops enters a sick day in chromium and rebooks the worklist it produces: the booked
patients appear with alternatives, and one click moves them all."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from scheduling.models import Appointment, RebookingItem
from tests.changes.world import Network
from tests.mfa import browser_sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ops_enters_a_sick_day_and_rebooks_the_worklist(
    live_server, ops_manager: User, agent: User, artifacts_dir
):
    net = Network()
    patients = [net.book(agent, net.slot(hour)).patient for hour in (8, 9, 10)]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            browser_sign_in(
                page, live_server.url, ops_manager, "/schedule/changes/", "pw-for-tests-only"
            )

            form = page.locator("#time-off-form")
            form.locator("select[name=provider]").select_option(str(net.provider.pk))
            form.locator("input[name=day]").fill(net.day.isoformat())
            form.locator("button[type=submit]").click()
            expect(page.locator("#changes-message")).to_contain_text("3 booked visits to rebook")
            rows = page.locator("#worklist tbody tr.rebooking")
            expect(rows).to_have_count(3)
            for patient in patients:
                expect(rows.filter(has_text=str(patient))).to_have_count(1)
            # the colleague at the very same local time
            expect(rows.first.locator("select option").first).to_contain_text(
                f"8:00 AM · {net.colleague}"
            )
            expect(rows.first).to_contain_text("8:00 AM")
            page.screenshot(
                path=os.path.join(artifacts_dir, "schedule-changes-worklist.png"), full_page=True
            )

            page.click("#rebook-all")
            expect(page.locator("#changes-message")).to_contain_text("Rebooked 3.")
            expect(page.locator("#worklist tbody tr.status-rebooked")).to_have_count(3)
        finally:
            browser.close()
    assert set(RebookingItem.objects.values_list("status", flat=True)) == {"rebooked"}
    assert Appointment.objects.filter(status="booked", provider=net.colleague).count() == 3
