"""An agent's unfinished work: the call still open and the holds still live.

A call belongs to its agent, not to a browser session: signing in again or an expired
session must not orphan it (the console finds it again from here), and a call nobody
comes back to is closed by the beat once it is past ``CALL_ABANDON_MINUTES``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from ..models import Call, Hold
from .holds import live_holds


def agent_open_call(*, user: AbstractBaseUser | AnonymousUser) -> Call | None:
    """The agent's most recent call not yet wrapped up (None when there is none)."""
    if not user.is_authenticated:
        return None
    return (
        Call.objects.select_related("patient")
        .filter(agent_id=user.pk, ended_at__isnull=True)
        .order_by("-started_at", "-pk")
        .first()
    )


def agent_live_hold(
    *, user: AbstractBaseUser | AnonymousUser, now: datetime, call: Call | None = None
) -> Hold | None:
    """The agent's newest live hold, on ``call`` when one is given: the first unit of the
    run placed last (a long visit's tail holds share their first unit's ``created_at``,
    and the first unit is the one to book or release)."""
    if not user.is_authenticated:
        return None
    holds = live_holds(now).filter(held_by_id=user.pk)
    if call is not None:
        holds = holds.filter(call=call)
    newest = holds.order_by("-created_at", "-pk").values_list("created_at", flat=True).first()
    if newest is None:
        return None
    return (
        holds.filter(created_at=newest)
        .select_related("slot__location", "slot__provider")
        .order_by("slot__start")
        .first()
    )


def agent_recent_abandoned_call(
    *, user: AbstractBaseUser | AnonymousUser, since: datetime
) -> Call | None:
    """The agent's latest call closed as abandoned since ``since``, if that is their
    latest call at all: what the console tells them about on their next visit."""
    if not user.is_authenticated:
        return None
    last = Call.objects.filter(agent_id=user.pk, ended_at__gte=since).order_by("-ended_at").first()
    return last if last is not None and last.outcome == Call.Outcome.ABANDONED else None


def calls_open_past_limit(*, now: datetime) -> list[int]:
    """Ids of calls still open ``CALL_ABANDON_MINUTES`` after they started."""
    cutoff = now - timedelta(minutes=settings.CALL_ABANDON_MINUTES)
    return list(
        Call.objects.filter(ended_at__isnull=True, started_at__lte=cutoff)
        .order_by("started_at")
        .values_list("pk", flat=True)
    )
