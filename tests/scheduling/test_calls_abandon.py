"""Calls nobody wrapped up: the beat closes them as abandoned, once, and frees their holds."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from config.celery import app
from scheduling import services
from scheduling.models import Call, Hold
from scheduling.services.errors import CallAlreadyEnded
from scheduling.tasks import call_abandon_task, calls_abandon_stale_task
from tests import factories as f


def _call(agent, *, minutes_ago: int) -> Call:
    call = services.call_start(agent=agent, caller_phone="3035550100")
    Call.objects.filter(pk=call.pk).update(
        started_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    call.refresh_from_db()
    return call


@pytest.fixture
def eager():
    """The beat task queues one abandon per call; run them in this process."""
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db
def test_it_closes_calls_left_open_past_the_limit_as_abandoned_and_frees_their_holds(
    agent, settings, eager
):
    settings.CALL_ABANDON_MINUTES = 60
    loc, prov = f.location(), None
    prov = f.provider(locations=[loc])
    slot = f.slot(provider=prov, location=loc, start=timezone.now() + timedelta(days=1))
    stale = _call(agent, minutes_ago=90)
    fresh = _call(agent, minutes_ago=10)
    hold = services.hold_place(slot=slot, by=agent, call=stale)

    assert calls_abandon_stale_task.apply().get() == 1

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.outcome == Call.Outcome.ABANDONED and stale.ended_at is not None
    assert stale.notes == "Closed automatically: left open past 60 minutes."
    assert fresh.ended_at is None and fresh.outcome == ""
    assert Hold.objects.get(pk=hold.pk).released_at is not None


@pytest.mark.django_db
def test_it_leaves_a_call_alone_once_it_has_ended(agent):
    stale = _call(agent, minutes_ago=600)
    assert call_abandon_task.apply(args=[stale.pk]).get() is True
    ended_at = Call.objects.get(pk=stale.pk).ended_at

    # A second run (a redelivery, the next beat) and a late wrap-up change nothing.
    assert call_abandon_task.apply(args=[stale.pk]).get() is False
    with pytest.raises(CallAlreadyEnded):
        services.call_wrap_up(call=stale, by=agent, outcome="booked", reason="recall")
    again = Call.objects.get(pk=stale.pk)
    assert again.ended_at == ended_at and again.outcome == Call.Outcome.ABANDONED


@pytest.mark.django_db
def test_agents_cannot_wrap_up_a_call_as_abandoned(agent):
    call = _call(agent, minutes_ago=1)
    with pytest.raises(services.InvalidOutcome):
        services.call_wrap_up(call=call, by=agent, outcome="abandoned", reason="other")


@pytest.mark.django_db(transaction=True)
def test_a_wrap_up_racing_the_abandon_ends_the_call_once(agent):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serializes them)")
    call = _call(agent, minutes_ago=120)
    start = threading.Barrier(2)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def wrap_up():
        try:
            start.wait()
            services.call_wrap_up(call=call, by=agent, outcome="booked", reason="recall")
            outcomes.append("wrapped")
        except CallAlreadyEnded:
            outcomes.append("already ended")
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    def abandon():
        try:
            start.wait()
            outcomes.append("abandoned" if services.call_abandon(call_id=call.pk) else "skipped")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrap_up), threading.Thread(target=abandon)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(outcomes) in (["abandoned", "already ended"], ["skipped", "wrapped"])
    ended = Call.objects.get(pk=call.pk)
    assert ended.outcome == ("abandoned" if "abandoned" in outcomes else "booked")
