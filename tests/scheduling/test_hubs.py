"""Hub routing: queues, longest-idle agents, urgent lines, overflow, callbacks,
presence, and events arriving twice or out of order."""

from __future__ import annotations

from datetime import timedelta

import pytest

from scheduling import services
from scheduling.hubs import events as ev
from scheduling.hubs.events import CallEvent
from scheduling.models import Callback, HubCall, Presence, RoutingDecision
from scheduling.selectors import callbacks_due
from tests import factories as f

from .hub_world import (
    MAIN_LINE,
    SOUTH_LINE,
    T0,
    URGENT_LINE,
    answered,
    ended,
    hubs,
    offered,
    presence,
    staff,
)

pytestmark = pytest.mark.django_db
S = timedelta(seconds=1)


def apply(*events: CallEvent) -> HubCall:
    hc = None
    for event in events:
        hc = services.hub_call_event_apply(event=event)
    assert hc is not None
    return HubCall.objects.get(pk=hc.pk)


def reasons(hc: HubCall) -> list[tuple[str, str]]:
    return list(hc.decisions.values_list("kind", "reason"))


def test_the_dialed_line_decides_the_hub_and_the_reason_is_recorded():
    w = hubs()
    hc = apply(offered("CA1", dialed=SOUTH_LINE))
    assert hc.hub == w.south
    assert hc.state == HubCall.State.WAITING
    assert reasons(hc)[0][0] == "queued"
    assert "serves" in reasons(hc)[0][1]
    assert "South" in reasons(hc)[0][1]


def test_the_main_number_routes_by_the_callers_home_location():
    w = hubs()
    south_region = w.south.hub_regions.get().region
    f.patient(phone="7195550142", home_location=f.location(region=south_region))
    hc = apply(offered("CA1", dialed=MAIN_LINE, caller="+17195550142"))
    assert hc.hub == w.south
    assert "home location" in reasons(hc)[0][1]


def test_an_offered_call_goes_to_the_longest_idle_available_agent():
    w = hubs()
    staff(w.north, "recent", idle_since=T0 - 60 * S)
    longest = staff(w.north, "longest", idle_since=T0 - 600 * S)
    staff(w.north, "away", state=Presence.AWAY, idle_since=T0 - 3600 * S)
    hc = apply(offered("CA1"))
    assert hc.state == HubCall.State.ASSIGNED
    assert hc.agent == longest
    assert presence(longest).state == Presence.ON_CALL
    assert ("assigned", "longest-idle available agent in North") in reasons(hc)


def test_urgent_lines_are_answered_before_calls_that_waited_longer():
    w = hubs()
    apply(offered("CA-old", T0))
    apply(offered("CA-urgent", T0 + 30 * S, dialed=URGENT_LINE))
    agent = staff(w.north, "free")
    services.presence_set(user=agent, state=Presence.AVAILABLE, now=T0 + 40 * S)
    assert HubCall.objects.get(sid="CA-urgent").agent == agent
    assert HubCall.objects.get(sid="CA-old").state == HubCall.State.WAITING


def test_answer_end_and_wrap_up_come_from_the_events():
    w = hubs()
    agent = staff(w.north, "alice")
    apply(offered("CA1", T0))
    hc = apply(answered("CA1", agent, T0 + 12 * S))
    assert hc.state == HubCall.State.ANSWERED
    assert hc.call is not None and hc.call.agent == agent
    assert hc.call.started_at == T0 + 12 * S
    hc = apply(ended("CA1", T0 + 300 * S))
    assert hc.state == HubCall.State.ENDED
    assert presence(agent).state == Presence.WRAP_UP
    services.call_wrap_up(call=hc.call, by=agent, outcome="info_only")
    assert presence(agent).state == Presence.AVAILABLE
    assert HubCall.objects.get(pk=hc.pk).wrapped_at is not None


def test_duplicate_events_change_nothing_more():
    w = hubs()
    agent = staff(w.north, "alice")
    events = [offered("CA1", T0), answered("CA1", agent, T0 + 5 * S), ended("CA1", T0 + 90 * S)]
    first = apply(*events)
    again = apply(*events, *events)
    assert (again.state, again.offered_at, again.answered_at, again.ended_at, again.call_id) == (
        first.state,
        first.offered_at,
        first.answered_at,
        first.ended_at,
        first.call_id,
    )
    assert again.decisions.filter(kind="queued").count() == 1
    assert presence(agent).state == Presence.WRAP_UP


def test_events_out_of_order_end_in_the_same_call():
    w = hubs()
    agent = staff(w.north, "alice", state=Presence.AWAY)
    # The hang-up first, then the answer, then the offer.
    hc = apply(ended("CA1", T0 + 90 * S))
    assert hc.state == HubCall.State.ABANDONED
    hc = apply(answered("CA1", agent, T0 + 5 * S))
    assert hc.state == HubCall.State.ENDED
    hc = apply(offered("CA1", T0))
    assert (hc.state, hc.offered_at, hc.answered_at, hc.ended_at, hc.hub) == (
        HubCall.State.ENDED,
        T0,
        T0 + 5 * S,
        T0 + 90 * S,
        w.north,
    )
    # A late answer does not put the agent on a call that is over.
    assert presence(agent).state == Presence.AWAY


def test_a_call_waiting_past_the_limit_overflows_to_the_next_hub():
    w = hubs()
    apply(offered("CA1", T0))
    services.hub_queue_sweep(now=T0 + 30 * S)
    assert HubCall.objects.get(sid="CA1").overflow_hub is None
    south_agent = staff(w.south, "bob", state=Presence.AWAY)
    services.hub_queue_sweep(now=T0 + 50 * S)
    hc = HubCall.objects.get(sid="CA1")
    assert hc.overflow_hub == w.south
    services.presence_set(user=south_agent, state=Presence.AVAILABLE, now=T0 + 55 * S)
    hc = HubCall.objects.get(sid="CA1")
    assert hc.agent == south_agent
    kinds = [k for k, _ in reasons(hc)]
    assert kinds == ["queued", "overflowed", "assigned"]
    assert "over the 45 s limit" in reasons(hc)[1][1]


def test_a_long_queue_overflows_a_new_call_at_once():
    w = hubs()
    w.north.overflow_queue_length = 2
    w.north.save()
    for i in range(3):
        apply(offered(f"CA{i}", T0 + i * S))
    assert HubCall.objects.get(sid="CA2").overflow_hub == w.south
    assert HubCall.objects.get(sid="CA0").overflow_hub is None


def test_overflow_off_keeps_calls_home():
    w = hubs()
    w.north.overflow_enabled = False
    w.north.save()
    apply(offered("CA1", T0))
    services.hub_queue_sweep(now=T0 + 600 * S)
    assert HubCall.objects.get(sid="CA1").overflow_hub is None


def test_a_long_wait_offers_a_callback_and_accepting_puts_it_on_the_worklist(agent):
    w = hubs()
    patient = f.patient(phone="3035550100")
    apply(offered("CA1", T0))
    services.hub_queue_sweep(now=T0 + (w.north.callback_offer_seconds + 1) * S)
    hc = HubCall.objects.get(sid="CA1")
    assert hc.callback_offered_at is not None
    hc = apply(CallEvent(ev.CALLBACK_REQUESTED, "CA1", T0 + 130 * S), ended("CA1", T0 + 135 * S))
    assert hc.state == HubCall.State.CALLBACK
    callback = Callback.objects.get(hub_call=hc)
    assert callback.patient == patient
    assert callback.phone == "3035550100"
    assert callback in callbacks_due(agent=agent)
    assert [k for k, _ in reasons(hc)][-1] == "callback"


def test_going_away_mid_call_waits_until_the_call_lets_go():
    w = hubs()
    agent = staff(w.north, "alice")
    apply(offered("CA1", T0), answered("CA1", agent, T0 + 3 * S))
    services.presence_set(user=agent, state=Presence.AWAY, now=T0 + 20 * S)
    assert presence(agent).state == Presence.ON_CALL
    apply(offered("CA2", T0 + 30 * S))
    assert HubCall.objects.get(sid="CA2").state == HubCall.State.WAITING
    hc = apply(ended("CA1", T0 + 60 * S))
    assert presence(agent).state == Presence.WRAP_UP
    services.call_wrap_up(call=hc.call, by=agent, outcome="info_only")
    assert presence(agent).state == Presence.AWAY
    assert HubCall.objects.get(sid="CA2").state == HubCall.State.WAITING


def test_going_away_while_a_call_rings_puts_it_back_in_the_queue():
    w = hubs()
    alice = staff(w.north, "alice", idle_since=T0 - 100 * S)
    bob = staff(w.north, "bob", state=Presence.AWAY)
    hc = apply(offered("CA1", T0))
    assert hc.agent == alice
    services.presence_set(user=bob, state=Presence.AVAILABLE, now=T0 + 1 * S)
    services.presence_set(user=alice, state=Presence.AWAY, now=T0 + 5 * S)
    hc = HubCall.objects.get(pk=hc.pk)
    assert hc.agent == bob
    assert "returned" in [k for k, _ in reasons(hc)]
    assert presence(alice).state == Presence.AWAY


def test_an_answer_by_another_agent_is_a_transfer():
    w = hubs()
    alice, bob = staff(w.north, "alice"), staff(w.north, "bob", state=Presence.AWAY)
    apply(offered("CA1", T0), answered("CA1", alice, T0 + 2 * S))
    hc = apply(answered("CA1", bob, T0 + 120 * S))
    assert hc.agent == bob
    assert presence(alice).state == Presence.WRAP_UP
    assert presence(bob).state == Presence.ON_CALL
    assert RoutingDecision.objects.filter(hub_call=hc, kind="transferred").count() == 1
