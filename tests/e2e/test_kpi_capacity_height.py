"""The Capacity page of a network with many visit types and locations stays a page:
long tables scroll in their own boxes at 1366x768."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect, sync_playwright

from tests import factories as fx
from tests.kpi import dataset
from tests.mfa import browser_sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
kpi_net = dataset.kpi_net
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_capacity_page_is_not_thousands_of_pixels_tall(
    live_server, ops_manager: User, kpi_net, artifacts_dir
):
    # 12 visit types x 9 locations: a 108-row third-next-available table.
    region = kpi_net.r1
    for i in range(6):
        fx.location(region=region, name=f"Extra {i}")
    for i in range(10):
        fx.appointment_type(name=f"Visit {i}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            browser_sign_in(
                page, live_server.url, ops_manager, "/kpi/capacity/", "pw-for-tests-only"
            )
            expect(page.locator("h1")).to_have_text("Capacity")

            height = page.evaluate("document.documentElement.scrollHeight")
            page.screenshot(path=os.path.join(artifacts_dir, "kpi-capacity.png"), full_page=True)

            assert height < 3000, height
            box = page.locator("[data-table=third_available] .kpi-scroll")
            assert box.evaluate("e => e.scrollHeight > e.clientHeight")
        finally:
            browser.close()
