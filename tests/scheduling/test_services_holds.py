"""Holds through the services against the real database: who may hold, renew and
release, and how a long visit holds its whole run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import services
from scheduling.models import (
    Hold,
)
from tests import factories as f

from .services_world import DAY, exactly

pytestmark = pytest.mark.django_db


# --- holds -------------------------------------------------------------------------


def test_a_hold_keeps_other_agents_off_the_slot(world, agent, other_agent, heard):
    hold = services.hold_place(slot=world.slots[0], by=agent)

    assert hold.expires_at - hold.created_at == timedelta(minutes=3)
    with pytest.raises(services.SlotHeld, match=exactly("This slot is held by another agent.")):
        services.hold_place(slot=world.slots[0], by=other_agent)
    assert [e[0] for e in heard] == ["hold"]


def test_holding_again_renews_the_agents_own_hold(world, agent, settings):
    settings.HOLD_MINUTES = 5
    first = services.hold_place(slot=world.slots[0], by=agent)
    again = services.hold_place(slot=world.slots[0], by=agent)

    assert again.pk == first.pk
    assert Hold.objects.count() == 1
    assert again.expires_at >= first.expires_at


def test_an_expired_hold_lets_another_agent_in(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)
    Hold.objects.filter(pk=hold.pk).update(
        created_at=timezone.now() - timedelta(minutes=10),
        expires_at=timezone.now() - timedelta(seconds=1),
    )

    taken = services.hold_place(slot=world.slots[0], by=other_agent)

    assert taken.held_by == other_agent
    hold.refresh_from_db()
    assert hold.released_at is not None


def test_holding_for_a_long_visit_holds_its_whole_run(world, agent, other_agent, heard):
    hold = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)

    assert Hold.objects.filter(held_by=agent, released_at__isnull=True).count() == 2
    assert [e[0] for e in heard] == ["hold"]
    with pytest.raises(services.SlotHeld):
        services.hold_place(slot=world.slots[1], by=other_agent)

    appt = services.appointment_book(
        hold=hold, patient=world.patient, appointment_type=world.consult, by=agent, reason="recall"
    )
    assert appt.end - appt.start == timedelta(minutes=60)
    assert not Hold.objects.filter(consumed_at__isnull=True, released_at__isnull=True).exists()


def test_releasing_a_long_visits_hold_frees_the_whole_run(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)

    services.hold_release(hold=hold, by=agent)

    assert services.hold_place(slot=world.slots[1], by=other_agent).held_by == other_agent


def open_hold_slots() -> set[int]:
    return set(
        Hold.objects.filter(released_at__isnull=True, consumed_at__isnull=True).values_list(
            "slot_id", flat=True
        )
    )


def test_releasing_a_hold_renewed_for_a_long_visit_frees_its_tail_too(world, agent, other_agent):
    # Held first without the visit type, then again with it: the first unit's hold is
    # renewed and the tail's hold is created later.
    first = services.hold_place(slot=world.slots[0], by=agent)
    again = services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)
    assert again.pk == first.pk and open_hold_slots() == {world.slots[0].pk, world.slots[1].pk}
    elsewhere = services.hold_place(slot=world.slots[4], by=agent)

    services.hold_release(hold=first, by=agent)

    # The run is free for anyone at once; the agent's unrelated hold two units on stays.
    assert services.hold_place(slot=world.slots[1], by=other_agent).held_by == other_agent
    assert open_hold_slots() == {world.slots[1].pk, world.slots[4].pk}
    elsewhere.refresh_from_db()
    assert elsewhere.released_at is None


def test_releasing_a_calls_holds_frees_tails_placed_off_the_call(world, agent, other_agent):
    call = services.call_start(agent=agent)
    services.hold_place(slot=world.slots[0], by=agent, call=call)
    services.hold_place(slot=world.slots[0], by=agent, appointment_type=world.consult)
    other = services.hold_place(slot=world.slots[3], by=other_agent)

    assert services.hold_release_for_call(call=call, by=agent) == 2

    assert open_hold_slots() == {world.slots[3].pk}
    other.refresh_from_db()
    assert other.released_at is None


def test_wrapping_up_a_call_frees_the_tails_of_its_holds(world, agent):
    call = services.call_start(agent=agent)
    services.hold_place(slot=world.slots[2], by=agent, call=call)
    services.hold_place(slot=world.slots[2], by=agent, appointment_type=world.consult)

    services.call_wrap_up(call=call, by=agent, outcome="info_only")

    assert open_hold_slots() == set()


def test_a_long_visit_cannot_be_held_where_it_does_not_fit(world, agent):
    with pytest.raises(services.SlotWrongFit):
        services.hold_place(slot=world.slots[-1], by=agent, appointment_type=world.consult)
    assert not Hold.objects.exists()


def test_a_slot_in_the_past_cannot_be_held(world, agent):
    past = f.slot(provider=world.provider, location=world.location, start=DAY - timedelta(days=30))

    with pytest.raises(services.SlotInPast, match=exactly("This slot is in the past.")):
        services.hold_place(slot=past, by=agent)
    assert not Hold.objects.exists()


def test_releasing_a_hold_frees_the_slot_and_only_its_owner_may(world, agent, other_agent):
    hold = services.hold_place(slot=world.slots[0], by=agent)

    with pytest.raises(services.HoldNotYours):
        services.hold_release(hold=hold, by=other_agent)
    services.hold_release(hold=hold, by=agent)

    assert services.hold_place(slot=world.slots[0], by=other_agent).held_by == other_agent
