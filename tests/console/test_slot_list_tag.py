"""The slot list's starts, written by ``{% slot_option %}``: a hold form per bookable
start, a note (no button) for one another agent holds, everything escaped."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from django.template import engines
from django.test import RequestFactory

from scheduling.console.state import ConsoleState
from scheduling.selectors.slot_results import ScorePart, SlotOption

TEMPLATE = engines["django"].from_string(
    "{% load slot_list %}{% for o in opts %}{% slot_option o best %}{% endfor %}"
)
START = datetime(2030, 1, 15, 15, 0, tzinfo=UTC)  # 8:00 AM in Denver


def option(**changes) -> SlotOption:
    denver = START.astimezone(ZoneInfo("America/Denver"))
    base = SlotOption(
        slot_id=41,
        provider_id=1,
        provider="Dr. Lee <Park>",
        location_id=2,
        location="Cherry & Creek",
        region_id=None,
        start=START,
        end=START + timedelta(minutes=30),
        local_start=denver,
        local_end=denver + timedelta(minutes=30),
        time_zone="America/Denver",
        score=7.123,
        breakdown=(ScorePart(rule="distance", points=1.0, note="5 mi from home"),),
        distance_miles=4.6,
    )
    return replace(base, **changes)


def render(opts, *, best=False, patient_zone=None) -> str:
    context = {
        "opts": opts,
        "best": best,
        "patient_zone": patient_zone,
        "state": ConsoleState(finder={"appointment_type": 9}),
    }
    return TEMPLATE.render(context, RequestFactory().get("/"))


def test_a_bookable_start_is_a_hold_form_with_its_time_and_why():
    html = render([option()], best=True, patient_zone="America/New_York")
    assert '<form method="post" action="/console/hold/" hx-post="/console/hold/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert '<input type="hidden" name="slot_id" value="41">' in html
    assert '<input type="hidden" name="appointment_type_id" value="9">' in html
    assert 'class="slot-hold slot-best" data-slot="41" title="5 mi from home"' in html
    assert "<strong>Tue Jan 15, 8:00 AM MST</strong>" in html
    assert '<span class="caller-time">(caller 10:00 AM EST)</span>' in html
    assert "Dr. Lee &lt;Park&gt; · Cherry &amp; Creek" in html
    assert '<span class="why">5 mi · score 7.12</span>' in html


def test_the_day_list_shows_the_clock_time_only_and_marks_the_agents_own_hold():
    html = render([option(held_by_me=True, out_of_network=True, network_note="Out <x>")])
    assert "<strong>8:00 AM MST</strong>" in html
    assert '<li class="mine out-of-network">' in html
    assert 'class="slot-hold slot-mine" data-slot="41"' in html
    assert '<strong class="oon">Out &lt;x&gt;</strong> · <strong>' in html
    assert "caller-time" not in html


def test_a_start_another_agent_holds_has_no_hold_button():
    html = render([option(held=True)])
    assert '<li class="held">' in html
    assert '<div class="slot-held" data-held-slot="41" aria-disabled="true">' in html
    assert "<form" not in html and "slot-hold" not in html


def test_excluded_lines_are_listed_escaped():
    html = (
        engines["django"]
        .from_string("{% load slot_list %}{% excluded_items lines %}")
        .render(
            {
                "lines": [
                    {"kind": "location", "name": "Cherry & Creek", "text": "has no <CBCT>"},
                    {"kind": "provider", "name": "Dr. Lee", "text": "is away"},
                ]
            }
        )
    )
    assert html == (
        '<li class="excluded excluded-location"><strong>Cherry &amp; Creek</strong> has no '
        '&lt;CBCT&gt;</li>\n<li class="excluded excluded-provider"><strong>Dr. Lee</strong>'
        " is away</li>"
    )
