"""The recurring-series flow in the console: plan from the held slot, decide each row,
book them all; bad input is a 400 with the reason, never a 500."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.models import Appointment
from scheduling.selectors.holds import open_holds
from tests.scheduling.series_world import DENVER, Ortho

from .helpers import HX

pytestmark = pytest.mark.django_db

SERIES = {"series-pattern": "weekly", "series-interval": "4", "series-count": "12"}


def _held_first_visit(console, ortho: Ortho):
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    console.post("/console/patients/open/", {"patient_id": ortho.patient.pk}, headers=HX)
    first = ortho.slots[ortho.starts[0]][0]
    console.post(
        "/console/hold/", {"slot_id": first.pk, "appointment_type_id": ortho.visit.pk}, headers=HX
    )


def test_agent_plans_resolves_a_conflict_and_books_the_series(console, agent, other_agent):
    ortho = Ortho()
    services.hold_place(slot=ortho.slots[ortho.starts[6]][0], by=other_agent)
    _held_first_visit(console, ortho)

    planned = console.post("/console/series/plan/", SERIES, headers=HX)

    page = planned.content.decode()
    assert planned.status_code == 200, page
    assert page.count('class="series-row held"') == 11
    assert page.count('class="series-row conflict"') == 1
    assert "This slot is held by another agent." in page
    refused = console.post("/console/series/book/", {"series-reason": "follow_up"}, headers=HX)
    assert refused.status_code == 400
    assert "Accept, adjust or skip every occurrence" in refused.content.decode()

    console.post("/console/series/decide/", {"number": 7, "decision": "accept"}, headers=HX)
    booked = console.post("/console/series/book/", {"series-reason": "follow_up"}, headers=HX)

    assert booked.status_code == 200, booked.content.decode()
    assert "Series booked: 12 visits." in booked.content.decode()
    seventh = Appointment.objects.get(patient=ortho.patient, series_occurrence=7)
    assert seventh.start.astimezone(DENVER).strftime("%H:%M") == "09:30"
    assert seventh.call is not None


def test_a_reload_shows_the_plan_not_one_of_its_holds_as_a_lone_hold(console):
    ortho = Ortho()
    _held_first_visit(console, ortho)
    console.post("/console/series/plan/", SERIES, headers=HX)

    page = console.get("/console/").content.decode()

    assert page.count('class="series-row held"') == 12
    assert 'id="book-button"' not in page


def test_dropping_the_series_releases_its_holds(console, agent):
    ortho = Ortho()
    _held_first_visit(console, ortho)
    console.post("/console/series/plan/", SERIES, headers=HX)
    assert open_holds().filter(held_by=agent).count() == 12

    dropped = console.post("/console/series/abandon/", {}, headers=HX)

    assert "its holds were released" in dropped.content.decode()
    assert open_holds().count() == 0


def test_adjusting_a_row_holds_the_typed_local_time(console, agent):
    ortho = Ortho()
    _held_first_visit(console, ortho)
    console.post("/console/series/plan/", SERIES, headers=HX)
    wanted = ortho.starts[3].astimezone(DENVER) + timedelta(minutes=30)

    adjusted = console.post(
        "/console/series/adjust/",
        {"number": 4, "start": wanted.strftime("%Y-%m-%dT%H:%M")},
        headers=HX,
    )

    assert adjusted.status_code == 200, adjusted.content.decode()
    assert wanted.strftime("%-I:%M %p") in adjusted.content.decode()
    held = set(open_holds().filter(held_by=agent).values_list("slot__start", flat=True))
    assert ortho.starts[3] + timedelta(minutes=30) in held
    assert ortho.starts[3] not in held


def test_a_series_without_an_end_is_a_400_with_the_reason(console):
    ortho = Ortho()
    _held_first_visit(console, ortho)

    response = console.post("/console/series/plan/", {**SERIES, "series-count": ""}, headers=HX)

    assert response.status_code == 400
    assert "Give either a number of visits" in response.content.decode()
    assert not open_holds().exclude(slot=ortho.slots[ortho.starts[0]][0]).exists()


def _booked_series(console, agent):
    ortho = Ortho()
    series = ortho.book(agent, ortho.plan(agent))
    console.post("/console/call/start/", {"caller_phone": ""}, headers=HX)
    opened = console.post("/console/patients/open/", {"patient_id": ortho.patient.pk}, headers=HX)
    assert "series visit 12" in opened.content.decode()
    return ortho, series


def test_cancel_this_and_following_from_the_patient_context(console, agent):
    _, series = _booked_series(console, agent)
    tenth = series.appointments.get(series_occurrence=10)

    response = console.post(
        "/console/series/cancel/",
        {"appointment_id": tenth.pk, "reason": "patient_request"},
        headers=HX,
    )

    assert "Cancelled 3 visits of the series." in response.content.decode()
    assert series.appointments.filter(status="booked").count() == 9


def test_move_this_and_following_from_the_reschedule_hold(console, agent):
    ortho, series = _booked_series(console, agent)
    eleventh = series.appointments.get(series_occurrence=11)
    console.post(
        "/console/appointments/reschedule/start/", {"appointment_id": eleventh.pk}, headers=HX
    )
    later = ortho.slots[ortho.starts[10]][1]
    console.post(
        "/console/hold/", {"slot_id": later.pk, "appointment_type_id": ortho.visit.pk}, headers=HX
    )

    response = console.post(
        "/console/series/move/",
        {"appointment_id": eleventh.pk, "reason": "patient_request"},
        headers=HX,
    )

    assert "Moved 2 visits of the series." in response.content.decode()
    active = series.appointments.filter(status="booked").order_by("start")
    assert [a.start.astimezone(DENVER).strftime("%H:%M") for a in active][-3:] == [
        "09:00",
        "09:30",
        "09:30",
    ]
