"""Routing from several processes at once: one call never goes to two agents, and one
agent never gets two calls. Real threads with their own connections, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from scheduling import services
from scheduling.models import AgentPresence, HubCall, Presence, RoutingDecision

from .hub_world import T0, answered, hubs, offered, staff

pytestmark = pytest.mark.django_db(transaction=True)


def race(n: int, attempt: Callable[[int], object]) -> list[str]:
    barrier = threading.Barrier(n)
    errors: list[str] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            attempt(i)
        except Exception as exc:  # the assertion shows any
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_two_processes_dispatching_one_call_give_it_to_one_agent():
    w = hubs()
    agents = [staff(w.north, f"racer{i}", state=Presence.AWAY) for i in range(4)]
    services.hub_call_event_apply(event=offered("CA1"))
    AgentPresence.objects.filter(user__in=agents).update(state=Presence.AVAILABLE, idle_since=T0)
    errors = race(4, lambda i: services.hub_dispatch(hub_id=w.north.pk, now=T0))
    assert errors == []
    hc = HubCall.objects.get(sid="CA1")
    assert hc.state == HubCall.State.ASSIGNED
    holding = AgentPresence.objects.filter(current_call=hc)
    assert list(holding.values_list("user_id", flat=True)) == [hc.agent_id]
    assert AgentPresence.objects.filter(state=Presence.ON_CALL).count() == 1
    assert RoutingDecision.objects.filter(hub_call=hc, kind="assigned").count() == 1


def test_the_same_offer_arriving_at_two_processes_rings_one_agent():
    w = hubs()
    for i in range(3):
        staff(w.north, f"racer{i}")
    errors = race(2, lambda i: services.hub_call_event_apply(event=offered("CA1")))
    assert errors == []
    hc = HubCall.objects.get(sid="CA1")
    assert AgentPresence.objects.filter(state=Presence.ON_CALL).count() == 1
    assert AgentPresence.objects.get(current_call=hc).user_id == hc.agent_id
    assert hc.decisions.filter(kind="queued").count() == 1


def test_one_agent_offered_two_calls_at_once_takes_one():
    w = hubs()
    agent = staff(w.north, "only", state=Presence.AWAY)
    for sid in ("CA1", "CA2"):
        services.hub_call_event_apply(event=offered(sid))
    AgentPresence.objects.filter(user=agent).update(state=Presence.AVAILABLE)
    errors = race(2, lambda i: services.hub_dispatch(hub_id=w.north.pk, now=T0))
    assert errors == []
    states = sorted(HubCall.objects.values_list("state", flat=True))
    assert states == [HubCall.State.ASSIGNED, HubCall.State.WAITING]


def test_two_agents_answering_one_call_at_once_leave_one_on_it():
    w = hubs()
    a, b = staff(w.north, "a", state=Presence.AWAY), staff(w.north, "b", state=Presence.AWAY)
    services.hub_call_event_apply(event=offered("CA1"))
    errors = race(2, lambda i: services.hub_call_event_apply(event=answered("CA1", (a, b)[i])))
    assert errors == []
    hc = HubCall.objects.get(sid="CA1")
    assert AgentPresence.objects.filter(current_call=hc).count() == 1
    assert AgentPresence.objects.get(current_call=hc).user_id == hc.agent_id
