"""A "callback needed" wrap-up puts a callback on the worklist; returning it closes it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from scheduling import selectors, services
from scheduling.models import Callback
from tests import factories as f

pytestmark = pytest.mark.django_db


def _wrapped(agent, outcome: str = "callback", **kw):
    patient = f.patient()
    call = services.call_start(agent=agent, caller_phone="(303) 555-0100", patient=patient)
    services.call_wrap_up(call=call, by=agent, outcome=outcome, reason="billing", **kw)
    return call, patient


def test_a_callback_needed_wrap_up_creates_a_callback_due_later(agent, settings):
    settings.CALLBACK_DUE_MINUTES = 90
    before = timezone.now()

    call, patient = _wrapped(agent)

    callback = Callback.objects.get()
    assert callback.call == call and callback.patient == patient
    assert callback.phone == "3035550100" and callback.reason == "billing"
    assert callback.assigned_to == agent and callback.status == "open"
    assert (
        before + timedelta(minutes=90) <= callback.due_at <= timezone.now() + timedelta(minutes=90)
    )


def test_other_outcomes_create_no_callback(agent):
    _wrapped(agent, outcome="transferred")
    _wrapped(agent, outcome="info_only")

    assert not Callback.objects.exists()


def test_the_worklist_is_ordered_by_due_time_and_holds_only_what_the_agent_owes(agent, other_agent):
    now = timezone.now()
    later, _ = _wrapped(agent, callback_due=now + timedelta(hours=3))
    soon, _ = _wrapped(agent, callback_due=now + timedelta(minutes=10))
    overdue, _ = _wrapped(agent, callback_due=now - timedelta(minutes=5))
    _wrapped(other_agent, callback_due=now)
    anyone, _ = _wrapped(other_agent, callback_due=now + timedelta(hours=1))
    Callback.objects.filter(call=anyone).update(assigned_to=None)

    worklist = selectors.callbacks_due(agent=agent)

    assert [c.call for c in worklist] == [overdue, soon, anyone, later]


def test_returning_a_callback_opens_a_call_and_only_one_agent_gets_it(agent, other_agent):
    _, patient = _wrapped(agent)
    callback = Callback.objects.get()

    returned = services.callback_start(callback=callback, by=agent)

    callback.refresh_from_db()
    assert returned.patient == patient and returned.ended_at is None
    assert callback.status == "done" and callback.done_call == returned
    assert selectors.callbacks_due(agent=agent) == []
    with pytest.raises(services.CallbackTaken):
        services.callback_start(callback=callback, by=other_agent)
