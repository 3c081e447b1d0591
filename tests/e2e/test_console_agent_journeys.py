"""Console journeys an agent found broken, driven in a real browser (Debian's chromium,
1366x768): the out-of-network override, a sign-out mid-call, keyboard-only booking and
rescheduling, the layout, messages, shortcuts and reloads. Screenshots are kept in the
artifacts directory (var/test-artifacts/console-journey-*.png)."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from scheduling.models import Appointment, Call
from tests import factories as f
from tests.console.helpers import out_of_network_patient
from tests.e2e.holds import hold_landed

# Playwright's sync API runs an event loop in this thread; Django's ORM (used to build
# data and check results) refuses to run beside one unless told it is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests-only"  # the conftest fixtures' password
WIDTH, HEIGHT = 1366, 768


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

    def open_as(user: User, context=None):
        if context is None:
            # Playwright evaluates its string waits in the page with eval, which the
            # hub's CSP forbids to every script; the pages' own scripts stay under it.
            context = browser.new_context(
                viewport={"width": WIDTH, "height": HEIGHT}, bypass_csp=True
            )
            context.set_default_timeout(10_000)
            contexts.append(context)
        page = context.new_page()
        log_in(page, user)
        return page

    def log_in(page, user: User) -> None:
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        # Agents land on the console by themselves; loading it a second time would show
        # the page after its one-off messages (a recovered call) were already spent.
        page.wait_for_url(f"{live_server.url}/console/")

    open_as.log_in = log_in
    yield open_as
    for context in contexts:
        context.close()


def _shot(page, artifacts_dir: str, name: str) -> None:
    page.screenshot(path=os.path.join(artifacts_dir, f"console-journey-{name}.png"))


def _settled(page) -> None:
    """Wait until htmx has swapped and settled (a freshly swapped form submits through
    htmx only once htmx has processed it)."""
    page.wait_for_load_state()
    page.wait_for_function(
        "document.readyState === 'complete' && window.htmx"
        " && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )
    page.wait_for_timeout(50)


def _open_patient(page, typed: str, expected: str) -> None:
    _settled(page)
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    page.keyboard.type(typed)
    with page.expect_response(lambda r: r.url.endswith("/console/patients/search/")):
        page.keyboard.press("Enter")
    page.wait_for_selector(f"#search .open-patient:has-text('{expected}')")
    _settled(page)
    page.wait_for_function("document.activeElement.classList.contains('open-patient')")
    page.keyboard.press("Enter")  # the first result has focus
    page.wait_for_selector(f"#context h2:has-text('{expected}')")


FOCUSED = """() => {
  const e = document.activeElement;
  return e ? [e.tagName, e.id, e.name || "", (e.dataset && e.dataset.slot) || ""] : null;
}"""


def _focused(page) -> list[str]:
    """The focused element: [tag, id, name, data-slot]."""
    return page.evaluate(FOCUSED)


def _search_slots_by_keyboard(page, type_label: str, *, out_of_network: bool = False) -> None:
    """s, (the type,) Tab to "Include out-of-network options" and Space, Esc, s, Enter."""
    _settled(page)
    page.keyboard.press("Escape")
    page.keyboard.press("s")  # focus on the appointment type
    if type_label:
        page.select_option("#id_appointment_type", label=type_label)
    if out_of_network and not page.is_checked("#id_out_of_network"):
        for _ in range(15):
            page.keyboard.press("Tab")
            if _focused(page)[1] == "id_out_of_network":
                break
        page.keyboard.press("Space")
        assert page.is_checked("#id_out_of_network")
        page.keyboard.press("Escape")
        page.keyboard.press("s")
    with page.expect_response(lambda r: r.url.endswith("/console/slots/")):
        page.keyboard.press("Enter")  # on the drop-down: searches
    page.wait_for_selector("#slots")
    _settled(page)
    if page.locator("#slot-list").count():
        page.wait_for_function("document.activeElement.id === 'slot-list'")


def test_agent_books_out_of_network_signs_out_mid_call_and_books_then_reschedules_by_keyboard(
    console_page, agent, artifacts_dir
):
    net = f.console_network()
    patient, _plan = out_of_network_patient(net)
    patient.first_name, patient.last_name = "Odette", "Okonkwo"
    patient.save()
    page = console_page(agent)
    page.fill("#id_caller_phone", "303-555-0199")
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    _open_patient(page, "Okonkwo", "Okonkwo, Odette")

    # 1. Out of network, with a reason: the override field shows and must be filled.
    _search_slots_by_keyboard(page, "Cleaning", out_of_network=True)
    assert page.locator("#slots li.out-of-network").count() > 0
    page.keyboard.press("n")
    page.keyboard.press("h")
    hold_landed(page)
    override = page.locator("#hold #id_network_override_reason")
    assert override.is_visible()
    assert "out of network for" in page.inner_text("#hold .network-note")
    page.select_option("#hold select[name=reason]", "recall")
    page.keyboard.press("Escape")
    page.keyboard.press("b")  # the reason is set: b lands on the empty override reason
    assert _focused(page)[1] == "id_network_override_reason"
    page.keyboard.type("Patient prefers Dr. Park; accepts out-of-network cost")
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.wait_for_selector("#flash .msg:has-text('Booked.')")
    first = Appointment.objects.get(patient=patient)
    assert first.network_override_reason.startswith("Patient prefers Dr. Park")
    _shot(page, artifacts_dir, "1-booked-out-of-network")

    # 2. Mid-call, another slot held; the agent signs out and back in: the call and the
    #    hold are found again, with Release.
    _search_slots_by_keyboard(page, "")
    page.keyboard.press("n")
    page.keyboard.press("h")
    hold_landed(page)
    held_text = page.inner_text("#hold")
    page.click("button:has-text('Sign out')")
    page.wait_for_url(re.compile(r".*/accounts/login/.*|.*/$"))
    console_page.log_in(page, agent)
    page.wait_for_selector("#flash .msg:has-text('Found your open call and its held slot again.')")
    assert page.locator("#wrapup-button").is_visible()
    assert page.locator("#release-button").is_visible()
    assert held_text.splitlines()[1] in page.inner_text("#hold")
    _shot(page, artifacts_dir, "2-recovered-after-sign-in")

    # 3. Keyboard only: book the recovered hold, then reschedule the new visit.
    page.keyboard.press("b")  # lands on the reason
    assert _focused(page)[2] == "reason"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")  # on to the override reason
    page.keyboard.type("Same dentist as the visit booked earlier on this call")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash .msg:has-text('Booked.')")
    second = Appointment.objects.filter(patient=patient).exclude(pk=first.pk).get()
    _shot(page, artifacts_dir, "3-booked-by-keyboard")

    target = f"li.appt[data-appointment='{second.pk}'] button.reschedule"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate(f'document.activeElement === document.querySelector("{target}")'):
            break
    else:
        pytest.fail("Tab never reached the Reschedule button")
    page.keyboard.press("Enter")
    page.wait_for_selector("#finder .tag:has-text('rescheduling')")
    _search_slots_by_keyboard(page, "", out_of_network=True)
    page.keyboard.press("n")
    page.keyboard.press("h")
    page.wait_for_selector("#hold:has-text('Move appointment to this slot')")
    _settled(page)  # the swapped hold panel's form submits through htmx once processed
    page.keyboard.press("b")
    assert _focused(page)[2] == "reason"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    page.keyboard.type("Still the dentist the patient asked for")
    page.keyboard.press("Enter")
    page.wait_for_selector("#flash .msg:has-text('Rescheduled.')")
    assert page.inner_text("#hold h2") == "Rescheduled"
    second.refresh_from_db()
    assert second.status == Appointment.Status.RESCHEDULED
    _shot(page, artifacts_dir, "4-rescheduled-by-keyboard")

    # Booked and rescheduled on one call: the agent picks the outcome and the reason.
    page.keyboard.press("w")
    page.select_option("#id_outcome", "booked")
    page.select_option("#id_wrapup_reason", "recall")
    page.click("#wrapup-button")
    page.wait_for_selector("#flash:has-text('Call wrapped up')")
    assert Call.objects.get(agent=agent).ended_at is not None


def test_registering_a_caller_shows_their_context_at_once(console_page, agent, artifacts_dir):
    f.location(name="Lakewood Dental")
    page = console_page(agent)
    page.keyboard.press("r")
    page.fill("#id_first_name", "Reza")
    page.fill("#id_last_name", "Rahimi")
    page.fill("#id_date_of_birth", "1990-01-02")
    page.select_option("#id_sex", index=1)
    page.click("#register button[type=submit]")
    page.wait_for_selector("#flash .msg:has-text('Patient registered.')")
    assert page.inner_text("#context h2") == "Rahimi, Reza"
    assert "Search for the caller" not in page.inner_text("#context")
    _shot(page, artifacts_dir, "registered")


def test_enter_on_the_type_drop_down_leaves_the_slots_to_the_keyboard_and_few_tabs_reach_them(
    console_page, agent, artifacts_dir
):
    net = f.console_network()
    f.patient(first_name="Tomas", last_name="Tabor")
    page = console_page(agent)
    _open_patient(page, "Tabor", "Tabor, Tomas")
    page.keyboard.press("s")
    page.select_option("#id_appointment_type", label="Cleaning")
    with page.expect_response(lambda r: r.url.endswith("/console/slots/")):
        page.keyboard.press("Enter")
    page.wait_for_selector("#slots .slot-hold")
    _settled(page)  # the console moves focus once htmx has settled the swap
    # Focus left the drop-down, so n and h work at once (no Esc first).
    page.keyboard.press("n")
    first_slot = page.locator("#slots .slot-hold").first.get_attribute("data-slot")
    assert _focused(page)[3] == first_slot
    page.keyboard.press("h")
    hold_landed(page)
    page.click("#release-button")
    page.wait_for_selector("#hold .countdown", state="detached")

    # From a fresh load of the page, how many Tabs reach the first slot.
    page.reload()
    page.wait_for_selector("#slots .slot-hold")
    tabs = 0
    while _focused(page)[3] != first_slot and tabs < 40:
        page.keyboard.press("Tab")
        tabs += 1
        if _focused(page)[1] == "skip-to-slots":
            page.keyboard.press("Enter")
    assert tabs <= 3, tabs
    assert net["slots"]["cherry-creek"][0].pk  # the network the slots came from
    _shot(page, artifacts_dir, "tabs-to-first-slot")


def test_single_key_shortcuts_can_be_turned_off_and_remapped(console_page, agent, artifacts_dir):
    f.console_network()
    f.patient(first_name="Kai", last_name="Keys")
    page = console_page(agent)
    page.click("#shortcut-settings summary")
    page.fill("#shortcut-settings input[name=key_next]", "j")
    page.click("#shortcut-settings button[type=submit]")
    page.wait_for_selector("#flash .msg:has-text('Keyboard shortcuts saved.')")
    _open_patient(page, "Keys", "Keys, Kai")
    _search_slots_by_keyboard(page, "Cleaning")
    page.keyboard.press("n")  # no longer a shortcut
    assert _focused(page)[3] == ""
    page.keyboard.press("j")
    assert _focused(page)[3] == page.locator("#slots .slot-hold").first.get_attribute("data-slot")
    assert "j next slot" in page.inner_text("footer.shortcuts")

    page.click("#shortcut-settings summary")
    page.uncheck("#id_shortcuts_enabled")
    page.click("#shortcut-settings button[type=submit]")
    page.wait_for_selector("#flash .msg:has-text('Keyboard shortcuts off.')")
    page.keyboard.press("/")
    assert _focused(page)[1] != "id_query"
    page.keyboard.press("j")
    assert _focused(page)[3] == ""
    assert "Single-key shortcuts are off." in page.inner_text("footer.shortcuts")
    _shot(page, artifacts_dir, "shortcuts-off")


def test_the_page_fits_the_screen_messages_clear_the_slots_and_a_reload_keeps_results(
    console_page, agent, artifacts_dir
):
    net = f.console_network()
    day = timezone.now() + timedelta(days=4)
    for i in range(24):
        f.slot(
            provider=net["dentist"],
            location=net["lakewood"],
            start=day.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=30 * i),
        )
    for i in range(12):
        f.patient(first_name=f"Sam{i}", last_name="Sorensen", phone=f"720555{i:04d}")
    page = console_page(agent)
    _settled(page)  # "/" is the console's shortcut only once its script has run
    page.keyboard.press("/")
    page.keyboard.type("Sorensen")
    with page.expect_response(lambda r: r.url.endswith("/console/patients/search/")):
        page.keyboard.press("Enter")
    page.wait_for_selector("#search .open-patient")
    _settled(page)
    page.wait_for_function("document.activeElement.classList.contains('open-patient')")
    page.keyboard.press("Enter")
    page.wait_for_selector("#context h2:has-text('Sorensen')")
    _search_slots_by_keyboard(page, "Cleaning")
    page.wait_for_selector("#slots .slot-hold")

    # No page scroll at 1366x768: the panels scroll instead.
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= HEIGHT, height
    assert page.evaluate("document.getElementById('finder').scrollHeight") > 400

    # A message never covers a slot button, and goes away by itself.
    page.locator("#slots .slot-hold").first.click()
    hold_landed(page)
    page.click("#release-button")
    toast = page.wait_for_selector("#flash .msg:has-text('Hold released.')")
    box = toast.bounding_box()
    for slot_box in page.locator("#slots .slot-hold").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().toJSON())"
    ):
        visible = slot_box["bottom"] > 0 and slot_box["top"] < HEIGHT
        overlaps = not (
            box["x"] + box["width"] <= slot_box["left"]
            or slot_box["right"] <= box["x"]
            or box["y"] + box["height"] <= slot_box["top"]
            or slot_box["bottom"] <= box["y"]
        )
        assert not (visible and overlaps), (box, slot_box)
    _shot(page, artifacts_dir, "fits-1366x768")
    page.wait_for_selector("#flash .msg", state="detached", timeout=9_000)

    # A reload keeps the search hits and the slot results, and the URL stays bare.
    slots_before = page.locator("#slots .slot-hold").count()
    page.reload()
    assert page.locator("#search .open-patient").count() == 12
    assert page.locator("#slots .slot-hold").count() == slots_before
    assert page.url.endswith("/console/")
    _shot(page, artifacts_dir, "after-reload")
