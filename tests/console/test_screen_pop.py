"""Screen pop: when the platform says the agent answered, the console starts the call,
finds the caller by number and opens them, with no keystroke; and presence buttons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.hubs import events as ev
from scheduling.hubs.events import CallEvent
from scheduling.models import AgentPresence, Call, HubCall, Presence
from tests import factories as f
from tests.scheduling.hub_world import NORTH_LINE, hubs

from .helpers import HX, accesses

pytestmark = pytest.mark.django_db
POP = "/console/call/pop/"


@pytest.fixture
def on_team(agent):
    w = hubs()
    AgentPresence.objects.create(
        user=agent, hub=w.north, state=Presence.AVAILABLE, state_since=timezone.now()
    )
    return w


def ring(agent, caller: str, sid: str = "CA1") -> HubCall:
    at = timezone.now() - timedelta(seconds=20)
    services.hub_call_event_apply(
        event=CallEvent(ev.OFFERED, sid, at, caller=caller, dialed=NORTH_LINE)
    )
    return services.hub_call_event_apply(
        event=CallEvent(ev.ANSWERED, sid, at + timedelta(seconds=8), agent=agent.username)
    )


def test_answering_pops_the_one_patient_with_that_number(console, agent, on_team):
    patient = f.patient(phone="3035550188")
    assert console.post(POP, headers=HX).status_code == 204  # nothing answered yet
    hc = ring(agent, "3035550188")

    response = console.post(POP, headers=HX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Call answered." in html
    assert f"<strong>{patient}</strong>" in html  # the call bar names the caller
    assert hc.call is not None
    assert Call.objects.get(pk=hc.call.pk).patient == patient
    # The timer runs from the answer the platform reported, not from the poll.
    since = timezone.localtime(hc.answered_at).isoformat()
    assert f'data-since="{since}"' in html, html[html.index("data-since") :][:60]
    assert accesses(agent, patient) >= 1
    # The next poll has nothing new.
    assert console.post(POP, headers=HX).status_code == 204


def test_a_number_matching_two_patients_pops_the_call_and_the_choice(console, agent, on_team):
    first, second = f.patient(phone="3035550199"), f.patient(phone="3035550199")
    ring(agent, "3035550199")

    html = console.post(POP, headers=HX).content.decode()

    assert f'name="patient_id" value="{first.pk}"' in html
    assert f'name="patient_id" value="{second.pk}"' in html
    assert "not identified yet" in html


def test_the_poll_is_a_background_request(console, agent, on_team):
    html = console.get("/console/").content.decode()
    assert 'hx-post="/console/call/pop/"' in html
    assert """hx-headers='{"X-Hub-Background": "1"}'""" in html


def test_presence_buttons_set_presence_and_wait_during_a_call(console, agent, on_team):
    console.post("/console/presence/", {"state": "away"}, headers=HX)
    assert AgentPresence.objects.get(user=agent).state == Presence.AWAY
    console.post("/console/presence/", {"state": "available"}, headers=HX)
    ring(agent, "3035550100")
    html = console.post("/console/presence/", {"state": "away"}, headers=HX).content.decode()
    assert AgentPresence.objects.get(user=agent).state == Presence.ON_CALL
    assert "On call (then away)" in html


def test_presence_refuses_a_state_the_agent_cannot_pick(console, on_team):
    response = console.post("/console/presence/", {"state": "on_call"}, headers=HX)
    assert response.status_code == 400
