"""The federated hub in a real browser: the sandbox places a call, the hub rings the
agent, the agent answers and the console pops the caller, the agent books and wraps up,
and the ops manager's wallboard shows the call answered."""

from __future__ import annotations

import os
from datetime import date

import pytest
from django.utils import timezone

from integrations.telephony.sandbox import SandboxTelephony, http_transport
from scheduling.models import AgentPresence, Appointment, Hub, HubCall, HubLine, HubRegion, Presence
from tests import factories as f
from tests.mfa import browser_sign_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"  # the conftest fixtures' password
TOKEN = "e2e-telephony-token"
LINE = "3035550000"


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        yield browser
        browser.close()


def _shot(page, artifacts_dir: str, name: str) -> None:
    page.screenshot(path=os.path.join(artifacts_dir, f"hub-journey-{name}.png"))


def test_a_routed_call_pops_is_booked_and_shows_on_the_wallboard(
    browser, live_server, settings, agent, ops_manager, artifacts_dir
):
    settings.TELEPHONY_AUTH_TOKEN = TOKEN
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    hub = Hub.objects.create(name="Front Range hub")
    HubRegion.objects.create(hub=hub, region=net["region"])
    HubLine.objects.create(number=LINE, region=net["region"])
    AgentPresence.objects.create(
        user=agent, hub=hub, state=Presence.AWAY, state_since=timezone.now()
    )
    maria = f.patient(
        first_name="Maria",
        last_name="Gonzalez",
        date_of_birth=date(1985, 4, 12),
        phone="3035550142",
        home_location=net["lakewood"],
    )
    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", agent.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/console/")

    # 1. The agent says they are available; the sandbox places a call to the region's line.
    page.click("#presence-available")
    page.wait_for_selector("#presence-state:has-text('Available')")
    url = f"{live_server.url}/integrations/telephony/events/"
    phone = SandboxTelephony(url=url, transport=http_transport(url), auth_token=TOKEN)
    sid = phone.new_sid()
    assert phone.place(sid=sid, caller="3035550142", dialed=LINE, at=timezone.now()) == 200
    hc = HubCall.objects.get(sid=sid)
    assert hc.agent == agent and hc.state == HubCall.State.ASSIGNED

    # 2. The agent picks up the phone: the console pops Maria with no keystroke.
    assert phone.answer(sid=sid, agent=agent.username, at=timezone.now()) == 200
    page.wait_for_selector("#context h2:has-text('Gonzalez, Maria')")
    page.wait_for_selector("#callbar .timer")
    assert "Call answered." in page.inner_text("#flash")
    _shot(page, artifacts_dir, "1-popped")

    # 3. Find and hold the first slot for an implant consult from the keyboard, then book.
    page.wait_for_function(
        "document.readyState === 'complete' && window.htmx"
        " && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.keyboard.press("Escape")
    page.keyboard.press("s")
    page.select_option("#id_appointment_type", label="Implant consult")
    page.keyboard.press("Enter")
    page.wait_for_selector("#slots .slot-hold")
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    page.keyboard.press("h")
    page.wait_for_selector("#hold .countdown")
    page.select_option("#hold select[name=reason]", "new_problem")
    # The book button rather than its shortcut: with the focus just left in the reason
    # drop-down, a shortcut pressed while a background swap settles can be lost.
    page.click("#book-button")
    page.wait_for_selector("#flash:has-text('Booked.')", timeout=20_000)
    assert Appointment.objects.filter(patient=maria).count() == 1

    # 4. The caller hangs up: wrap-up starts from the platform's event; the agent ends it.
    assert phone.hang_up(sid=sid, at=timezone.now()) == 200
    assert AgentPresence.objects.get(user=agent).state == Presence.WRAP_UP
    page.click("#wrapup-button")
    page.wait_for_selector("#flash:has-text('Call wrapped up: Booked')")
    assert AgentPresence.objects.get(user=agent).state == Presence.AVAILABLE
    hc = HubCall.objects.get(sid=sid)
    assert hc.state == HubCall.State.ENDED and hc.wrapped_at is not None
    assert hc.call is not None and hc.call.patient == maria and hc.call.outcome == "booked"
    _shot(page, artifacts_dir, "2-wrapped")
    context.close()

    # 5. The ops manager's wallboard shows the call answered, within 30 s.
    ops = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    ops.set_default_timeout(10_000)
    board = ops.new_page()
    browser_sign_in(board, live_server.url, ops_manager, "/kpi/wallboard/", PASSWORD)
    row = board.locator("tr[data-hub='Front Range hub']")
    assert row.locator("td.offered").inner_text() == "1"
    assert row.locator("td.answered").inner_text() == "1"
    assert row.locator("td.sl").inner_text() == "100%"
    assert row.locator("td.agents-available").inner_text() == "1"
    _shot(board, artifacts_dir, "3-wallboard")
    ops.close()
