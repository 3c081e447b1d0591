"""The agent's journeys through the console in a real browser (Debian's chromium).

One browser per module keeps these lean; each test gets fresh contexts (cookies), its
own data, and leaves screenshots in the artifacts directory.
"""

from __future__ import annotations

import os
import re
from datetime import date

import pytest
from django.contrib.auth.models import User

from scheduling.models import Appointment, Call
from tests import factories as f
from tests.e2e.holds import hold_landed

# Playwright's sync API runs an event loop in this thread; Django's ORM (used to build
# data and check results) refuses to run beside one unless told it is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"  # the conftest fixtures' password


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        yield browser
        browser.close()


@pytest.fixture
def console_page(browser, live_server):
    """Log a user in through the login form in a fresh 1366x768 context; closed after."""
    contexts = []

    def open_as(user: User):
        # Playwright's string waits run through eval, which the hub's CSP forbids to
        # every script; the pages' own scripts stay under it.
        context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/console/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def _shot(page, artifacts_dir: str, name: str) -> None:
    page.screenshot(path=os.path.join(artifacts_dir, f"console-{name}.png"))


def _open_patient(page, typed: str, expected: str) -> None:
    # "/" is the console's shortcut only once its script has run and htmx has settled.
    page.wait_for_load_state()
    page.wait_for_function(
        "document.readyState === 'complete' && window.htmx"
        " && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.keyboard.press("Escape")  # leave whatever field has focus, so "/" is a shortcut
    page.keyboard.press("/")
    page.keyboard.type(typed)
    with page.expect_response(lambda r: r.url.endswith("/console/patients/search/")):
        page.keyboard.press("Enter")
    page.get_by_role("button", name=expected).click()
    page.wait_for_selector(f"#context h2:has-text('{expected}')")


def test_book_journey(console_page, agent, artifacts_dir):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    maria = f.patient(
        first_name="Maria",
        last_name="Gonzalez",
        date_of_birth=date(1985, 4, 12),
        phone="3035550142",
        home_location=net["lakewood"],
    )
    f.patient(first_name="Mark", last_name="Gordon")
    page = console_page(agent)

    # 1. Start the call with the caller's number.
    page.fill("#id_caller_phone", "303-555-0199")
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    assert page.input_value("#id_query") == "3035550199"

    # 2. Find her through a typo and open her context.
    _open_patient(page, "Gonzlez", "Gonzalez, Maria")
    assert "Lakewood Dental" in page.inner_text("#context")
    _shot(page, artifacts_dir, "1-context")

    # 3. Slots for a visit that needs a CBCT scanner: only Cherry Creek has one, and the
    #    page says why Lakewood is out.
    page.keyboard.press("s")
    page.select_option("#id_appointment_type", label="Implant consult")
    page.keyboard.press("Enter")  # on the focused type: searches
    page.wait_for_selector("#slots")
    assert "Front Range" in page.inner_text("#slots")  # the agent's home region by default
    options = page.locator("#slots .slot-hold")
    assert options.count() == 3
    assert all("Cherry Creek Dental" in t for t in options.all_inner_texts())
    excluded = page.inner_text("#slots .exclusions")
    assert re.search(r"Lakewood Dental.*CBCT scanner", excluded), excluded
    _shot(page, artifacts_dir, "2-slots")

    # 4. Hold the first slot from the keyboard, book it with a reason, see it in context.
    page.keyboard.press("Escape")
    page.keyboard.press("n")
    page.keyboard.press("h")
    hold_landed(page)
    countdown = page.inner_text("#hold .countdown")
    assert re.fullmatch(r"[0-3]:\d\d", countdown), countdown
    page.select_option("#hold select[name=reason]", "new_problem")
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # the book shortcut
    page.wait_for_selector("#flash:has-text('Booked.')")
    appt = Appointment.objects.get(patient=maria)
    assert appt.location == net["cherry"] and appt.book_reason == "new_problem"
    assert "Implant consult" in page.inner_text(f"li.appt[data-appointment='{appt.pk}']")
    _shot(page, artifacts_dir, "3-booked")

    # 5. Wrap up: the outcome and the call's reason are prefilled from the booking.
    assert page.input_value("#id_outcome") == "booked"
    assert page.input_value("#id_wrapup_reason") == "new_problem"
    page.click("#wrapup-button")
    page.wait_for_selector("#flash:has-text('Call wrapped up: Booked')")
    call = Call.objects.get(agent=agent)
    assert call.outcome == "booked" and call.patient == maria and call.ended_at
    assert call.reason == "new_problem"  # first-call resolution counts by it
    assert appt.call_id == call.pk


def test_cancel_journey_offers_the_freed_slot_to_the_waitlist(console_page, agent, artifacts_dir):
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.models import Waitlist

    net = f.console_network()
    patient = f.patient(first_name="Olu", last_name="Okafor", home_location=net["cherry"])
    appt = f.appointment(
        patient=patient, slot=net["slots"]["cherry-creek"][0], appointment_type=net["cleaning"]
    )
    waiting = f.patient(first_name="Wendy", last_name="Waiting")
    Waitlist.objects.create(
        patient=waiting,
        appointment_type=net["cleaning"],
        earliest=timezone.localdate(),
        latest=timezone.localdate() + timedelta(days=20),
        created_at=timezone.now(),
    )
    page = console_page(agent)
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    _open_patient(page, "Okafr", "Okafor, Olu")
    upcoming = page.locator(f"li.appt[data-appointment='{appt.pk}']")
    assert "Cherry Creek Dental" in upcoming.inner_text()

    # A cancel without a reason is refused by the browser; with one it goes through.
    upcoming.locator("select[name=reason]").select_option("patient_ill")
    upcoming.locator("button.cancel").click()
    page.wait_for_selector("#flash:has-text('Appointment cancelled.')")

    assert page.locator(f"li.appt[data-appointment='{appt.pk}']").count() == 0
    assert "Waiting, Wendy" in page.inner_text("#hold .waitlist-matches")
    _shot(page, artifacts_dir, "cancel-waitlist")
    appt.refresh_from_db()
    assert appt.status == Appointment.Status.CANCELLED and appt.cancel_reason == "patient_ill"

    page.select_option("#id_outcome", "cancelled")
    page.click("#wrapup-button")
    page.wait_for_selector("#flash:has-text('Call wrapped up: Cancelled')")
    call = Call.objects.get(agent=agent)
    assert call.outcome == "cancelled" and call.patient == patient and call.ended_at


def test_reschedule_journey(console_page, agent, artifacts_dir):
    net = f.console_network()
    f.agent_profile(user=agent, home_region=net["region"])
    patient = f.patient(first_name="Ravi", last_name="Raman")
    old = f.appointment(
        patient=patient, slot=net["slots"]["cherry-creek"][0], appointment_type=net["cleaning"]
    )
    page = console_page(agent)
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    _open_patient(page, "Raman", "Raman, Ravi")

    page.locator(f"li.appt[data-appointment='{old.pk}'] button.reschedule").click()
    page.wait_for_selector("#finder .tag:has-text('rescheduling')")
    # The finder starts from the appointment's type; the old slot is not offered again.
    assert page.locator("#id_appointment_type option:checked").inner_text() == "Cleaning"
    page.click("#slot-search")
    page.wait_for_selector("#slots .slot-hold")
    old_slot = net["slots"]["cherry-creek"][0].pk
    assert page.locator(f"#slots .slot-hold[data-slot='{old_slot}']").count() == 0
    target = net["slots"]["lakewood"][1]
    page.click(f"#slots .slot-hold[data-slot='{target.pk}']")
    page.wait_for_selector("#hold:has-text('Move appointment to this slot')")
    page.select_option("#hold select[name=reason]", "patient_request")
    page.click("#book-button")
    page.wait_for_selector("#flash:has-text('Rescheduled.')")
    _shot(page, artifacts_dir, "rescheduled")

    old.refresh_from_db()
    new = Appointment.objects.get(rescheduled_from=old)
    assert old.status == Appointment.Status.RESCHEDULED and old.cancel_reason == "patient_request"
    assert new.location == net["lakewood"] and new.start == target.start
    context = page.inner_text("#context")
    assert "Lakewood Dental" in context
    assert page.locator(f"li.appt[data-appointment='{old.pk}']").count() == 0
    assert page.input_value("#id_outcome") == "rescheduled"


def test_two_agents_race_for_one_slot(console_page, agent, other_agent, artifacts_dir):
    net = f.console_network()
    first = f.patient(first_name="Ana", last_name="Alpha")
    second = f.patient(first_name="Bo", last_name="Bravo")
    pages = []
    for user, patient in ((agent, first), (other_agent, second)):
        page = console_page(user)
        _open_patient(page, patient.last_name, f"{patient.last_name}, {patient.first_name}")
        page.select_option("#id_appointment_type", label="Implant consult")
        page.click("#slot-search")
        page.wait_for_selector("#slots .slot-hold")
        pages.append(page)
    contested = net["slots"]["cherry-creek"][0].pk
    button = f"#slots .slot-hold[data-slot='{contested}']"

    # Both see the slot; the first click wins the hold, the second is told plainly.
    pages[0].click(button)
    pages[0].wait_for_selector("#hold .countdown")
    pages[1].click(button)
    pages[1].wait_for_selector("#flash .error")
    assert "This slot is held by another agent." in pages[1].inner_text("#flash")
    assert pages[1].locator("#hold .countdown").count() == 0
    _shot(pages[1], artifacts_dir, "race-loser")

    # Searching again, agent 2 sees the slot as held (no button to click), and "n" (next
    # slot) goes past it to the next one that can be held.
    pages[1].click("#slot-search")
    held = pages[1].wait_for_selector(f"#slots .slot-held[data-held-slot='{contested}']")
    assert "held by another agent" in held.inner_text()
    assert pages[1].locator(button).count() == 0
    # Keys act on the list htmx has finished swapping in, not on one still settling.
    pages[1].wait_for_function(
        "window.htmx && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    pages[1].wait_for_timeout(50)
    pages[1].keyboard.press("n")
    following = net["slots"]["cherry-creek"][1].pk
    assert pages[1].evaluate("document.activeElement.dataset.slot") == str(following)
    _shot(pages[1], artifacts_dir, "race-loser-sees-held")

    pages[0].select_option("#hold select[name=reason]", "recall")
    pages[0].click("#book-button")
    pages[0].wait_for_selector("#flash:has-text('Booked.')")
    assert Appointment.objects.get().patient == first


def test_messages_leave_wrap_up_clear_and_an_expired_hold_says_so(
    console_page, agent, artifacts_dir
):
    from datetime import timedelta

    from django.utils import timezone

    from scheduling.models import Hold

    f.console_network()
    patient = f.patient(first_name="Eve", last_name="Echo")
    page = console_page(agent)
    page.click("#call-start")
    page.wait_for_selector("#wrapup-button")
    _open_patient(page, patient.last_name, "Echo, Eve")
    page.select_option("#id_appointment_type", label="Implant consult")
    page.click("#slot-search")
    page.click("#slots .slot-hold >> nth=0")
    hold_landed(page)

    # A message (here "Booked.") must not cover the call bar's Wrap up.
    page.select_option("#hold select[name=reason]", "recall")
    page.click("#book-button")
    page.wait_for_selector("#flash .msg:has-text('Booked.')")
    toast = page.locator("#flash .msg").bounding_box()
    wrap = page.locator("#wrapup-button").bounding_box()
    assert toast and wrap
    apart = (
        toast["x"] + toast["width"] <= wrap["x"]
        or wrap["x"] + wrap["width"] <= toast["x"]
        or toast["y"] + toast["height"] <= wrap["y"]
        or wrap["y"] + wrap["height"] <= toast["y"]
    )
    assert apart, (toast, wrap)
    _shot(page, artifacts_dir, "toast-clear-of-wrap-up")

    # The next hold runs out: the panel says so in words and Book looks disabled.
    with page.expect_response(lambda r: r.url.endswith("/console/slots/")):
        page.click("#slot-search")
    page.click("#slots .slot-hold >> nth=0")
    hold_landed(page)
    Hold.objects.filter(consumed_at__isnull=True).update(
        expires_at=timezone.now() + timedelta(seconds=2)
    )
    page.reload()
    page.wait_for_selector("#hold .hold-expiry.error")
    line = page.inner_text("#hold .hold-expiry")
    assert "expired" in line and "expires in" not in line
    book = page.locator("#book-button")
    assert book.is_disabled()
    style = book.evaluate("b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).cursor]")
    assert style == ["rgb(234, 236, 240)", "not-allowed"], style
    _shot(page, artifacts_dir, "hold-expired")
