"""An ops manager's first sign-in in chromium: password, authenticator enrolment, then KPIs."""

from __future__ import annotations

import base64
import os

import pytest
from django.contrib.auth.models import User
from django_otp.oath import totp
from playwright.sync_api import expect, sync_playwright

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_first_sign_in_enrols_an_authenticator_and_then_opens_the_page(
    live_server, ops_manager: User, artifacts_dir
):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{live_server.url}/accounts/login/?next=/kpi/")
            page.fill("input[name=username]", ops_manager.username)
            page.fill("input[name=password]", "pw-for-tests-only")
            page.click("button[type=submit]")

            expect(page.locator("h1")).to_have_text("Set up two-factor sign-in")
            expect(page.locator(".mfa-qr svg")).to_be_visible()
            secret = page.locator("[data-secret]").inner_text()
            page.screenshot(path=os.path.join(artifacts_dir, "mfa-setup.png"), full_page=True)
            page.fill("input[name=code]", f"{totp(base64.b32decode(secret)):06d}")
            page.press("input[name=code]", "Enter")

            expect(page.locator("h1")).to_have_text("Overview")
            # The CSP allows everything the pages need: no violation in the console.
            assert not [e for e in errors if "Content Security Policy" in e]
        finally:
            browser.close()
