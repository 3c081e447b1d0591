"""An agent books a year of orthodontic adjustments as one series in the console (Debian's
chromium, 1366x768): hold the first visit, plan the series, accept the one alternative,
book. Screenshot in var/test-artifacts/console-series-*.png."""

from __future__ import annotations

import os

import pytest

from scheduling import services
from scheduling.models import Appointment
from tests.scheduling.series_world import DENVER, Ortho

from .test_console_agent_journeys import _settled, browser, console_page

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "console_page"]  # fixtures shared with the other journeys


def test_agent_books_an_orthodontic_series(console_page, agent, other_agent, artifacts_dir):
    ortho = Ortho()
    ortho.patient.first_name, ortho.patient.last_name = "Oriana", "Quist"
    ortho.patient.save()
    # Another agent holds the sixth visit's 09:00: that row offers 09:30 instead.
    services.hold_place(slot=ortho.slots[ortho.starts[5]][0], by=other_agent)
    page = console_page(agent)
    page.click("#call-start")
    page.wait_for_selector("#callbar .timer")
    page.fill("#id_query", "Quist")
    page.press("#id_query", "Enter")
    page.click("#search .open-patient:has-text('Quist, Oriana')")
    page.wait_for_selector("#context h2:has-text('Quist, Oriana')")
    _settled(page)

    page.select_option("#id_appointment_type", label="Orthodontic adjustment")
    page.click("#slot-search")
    first = ortho.slots[ortho.starts[0]][0]
    page.click(f"#slots button.slot-hold[data-slot='{first.pk}']")
    page.wait_for_selector("#hold .countdown")
    _settled(page)

    page.click("#series-setup summary")
    page.select_option("#id_series-pattern", "weekly")
    page.fill("#id_series-interval", "4")
    page.fill("#id_series-count", "12")
    page.click("#series-plan")
    page.wait_for_selector("#series-plan tr.series-row >> nth=11")
    _settled(page)
    conflict = page.locator("#series-plan tr.series-row.conflict")
    assert conflict.count() == 1
    assert "held by another agent" in conflict.inner_text()
    conflict.locator("button.series-accept").click()
    page.wait_for_selector("#series-plan tr[data-occurrence='6'] >> text=accepted")
    _settled(page)
    page.select_option("#hold select[name=series-reason]", "follow_up")
    page.click("#series-book")
    page.wait_for_selector("#flash .msg:has-text('Series booked: 12 visits.')")
    page.screenshot(path=os.path.join(artifacts_dir, "console-series-booked.png"))

    booked = Appointment.objects.filter(patient=ortho.patient).order_by("start")
    assert booked.count() == 12
    times = [a.start.astimezone(DENVER).strftime("%H:%M") for a in booked]
    assert times == ["09:00"] * 5 + ["09:30"] + ["09:00"] * 6
