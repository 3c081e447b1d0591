"""Patient engagement in a real browser (Debian's chromium): a patient books on the
self-scheduling page with a one-time code; a patient confirms a reminder with C; a
cancellation is offered to two waiting patients and the first YES wins. Texts travel
over real HTTP through the Twilio library to the sandbox gateway the live server runs.
Screenshots: var/test-artifacts/engagement-*.png."""

from __future__ import annotations

import os
import re
from datetime import date, timedelta

import pytest
from django.utils import timezone

from integrations import relay
from integrations.models import Connector, SandboxAppointment, SandboxSms
from scheduling import services
from scheduling.engagement.offers import waitlist_offers_send
from scheduling.engagement.reminders import reminders_run
from scheduling.models import Appointment, AppointmentType, ReminderCadence
from tests import factories as f
from tests.mfa import browser_sign_in
from tests.scheduling.services_world import DAY, World

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
playwright_sync = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-only"
ACCOUNT = "ACe2e000000000000000000000000000"


@pytest.fixture(scope="module")
def browser():
    with playwright_sync.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 412, "height": 915}, bypass_csp=True)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def world(live_server, settings):
    settings.INTEGRATIONS_KICK_RELAY = False
    world = World()
    AppointmentType.objects.filter(pk=world.checkup.pk).update(self_service=True)
    Connector.objects.create(
        name="Sandbox SMS gateway",
        kind=Connector.Kind.SMS_TWILIO,
        role=Connector.Role.MESSAGING,
        endpoint=f"{live_server.url}/integrations/sms/sandbox",
        sending_application=ACCOUNT,
        sending_facility="+13035550000",
    )
    Connector.objects.create(
        name="Sandbox PMS",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.LOCATION_PMS,
        location=world.location,
        endpoint="sandbox",
        sending_application="SBXPMS",
        sending_facility="SBX",
        identifier_system="SBX-PMS",
    )
    return world


def _texts_to(phone: str) -> list[str]:
    relay.outbox_relay()
    return [t.body for t in SandboxSms.objects.order_by("pk") if t.to == f"+1{phone}"]


def _shot(page, artifacts_dir: str, name: str) -> None:
    page.screenshot(path=os.path.join(artifacts_dir, f"engagement-{name}.png"))


def _console_shows(browser, live_server, agent, patient, text: str) -> str:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", agent.get_username())
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/console/")
    page.fill("#id_caller_phone", patient.phone)
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    page.wait_for_function("window.htmx && !document.querySelector('.htmx-request')")
    page.fill("#id_query", patient.phone)
    with page.expect_response(lambda r: r.url.endswith("/console/patients/search/")):
        page.press("#id_query", "Enter")
    page.get_by_role("button", name=f"{patient.last_name}, {patient.first_name}").click()
    page.wait_for_selector(f"#context .appts :text('{text}')")
    found = page.inner_text("#context .appts")
    context.close()
    return found


def test_a_patient_books_online_with_a_one_time_code(
    world, page, browser, live_server, agent, artifacts_dir
):
    rosa = f.patient(first_name="Rosa", last_name="Marquez", date_of_birth=date(1980, 5, 6))

    page.goto(f"{live_server.url}/book/")
    page.fill("#id_first_name", "Rosa")
    page.fill("#id_last_name", "Marquez")
    page.fill("#id_date_of_birth", "1980-05-06")
    page.click("#book-identify button[type=submit]")
    page.wait_for_selector("#book-code")
    code = re.search(r"\d{6}", _texts_to(rosa.phone)[-1]).group(0)
    page.fill("#id_code", code)
    page.click("#book-code button[type=submit]")
    page.wait_for_selector("text=Hello, Rosa.")
    page.click("#book-search button[type=submit]")
    page.wait_for_selector(".book-option")
    _shot(page, artifacts_dir, "1-options")
    page.locator(".book-option").first.click()
    page.wait_for_selector("#book-done")
    _shot(page, artifacts_dir, "2-booked")

    assert "book" in page.url and str(rosa.pk) not in page.url
    booked = Appointment.objects.get(patient=rosa)
    relay.outbox_relay()
    assert SandboxAppointment.objects.filter(hub_appointment_id=booked.pk).exists()
    assert "booked online" in _console_shows(browser, live_server, agent, rosa, "booked online")


def test_a_patient_answers_a_reminder_with_c_and_the_console_shows_confirmed(
    world, page, browser, live_server, agent, admin_user, artifacts_dir
):
    pat = f.patient(consent_sms=True, home_location=world.location)
    slot = world.slots[0]
    visit = f.appointment(patient=pat, slot=slot, appointment_type=world.checkup)
    Appointment.objects.filter(pk=visit.pk).update(created_at=timezone.now() - timedelta(days=9))
    ReminderCadence.objects.create(channel="sms", hours_before=48)
    assert reminders_run(now=DAY - timedelta(hours=24)) == 1  # 09:00 in Denver
    assert "Reply C to confirm" in _texts_to(pat.phone)[-1]

    browser_sign_in(page, live_server.url, admin_user, "/integrations/sms/sandbox/", PASSWORD)
    page.select_option("#sms-from", f"+1{pat.phone}")
    page.fill("#sms-body", "C")
    page.click("#sms-reply button[type=submit]")
    page.wait_for_selector("#sms-log tr.sms-in")
    relay.outbox_relay()
    page.reload()
    _shot(page, artifacts_dir, "3-confirmed-text")
    assert "is confirmed" in page.inner_text("#sms-log")

    assert "confirmed by the patient" in _console_shows(
        browser, live_server, agent, pat, "confirmed by the patient"
    )


def test_a_cancellation_is_offered_to_two_waiting_patients_and_the_first_yes_wins(
    world, page, live_server, agent, admin_user, artifacts_dir, settings
):
    settings.ENGAGEMENT_OFFER_FAN_OUT = 2
    day = world.location.local(DAY).date()
    waiting = []
    for _ in range(2):
        person = f.patient(consent_sms=True)
        services.waitlist_add(
            patient=person, appointment_type=world.checkup, by=agent, earliest=day, latest=day
        )
        waiting.append(person)
    hold = services.hold_place(slot=world.slots[0], by=agent)
    first = services.appointment_book(
        hold=hold,
        patient=world.patient,
        appointment_type=world.checkup,
        by=agent,
        reason="new_problem",
    )
    services.appointment_cancel(appointment=first, by=agent, reason="patient_request")
    assert (
        waitlist_offers_send(since=timezone.now() - timedelta(hours=1), now=DAY - timedelta(days=1))
        == 2
    )
    for person in waiting:
        assert "Reply YES" in _texts_to(person.phone)[-1]

    browser_sign_in(page, live_server.url, admin_user, "/integrations/sms/sandbox/", PASSWORD)
    for person in reversed(waiting):  # the second in line answers first
        page.select_option("#sms-from", f"+1{person.phone}")
        page.fill("#sms-body", "YES")
        page.click("#sms-reply button[type=submit]")
        page.wait_for_load_state()
    relay.outbox_relay()
    page.reload()
    _shot(page, artifacts_dir, "4-first-yes-wins")
    log = page.inner_text("#sms-log")

    winner, other = waiting[1], waiting[0]
    assert Appointment.objects.get(status="booked").patient == winner
    assert "Booked:" in _texts_to(winner.phone)[-1]
    assert "already taken" in _texts_to(other.phone)[-1]
    assert "already taken" in log and "Booked:" in log
