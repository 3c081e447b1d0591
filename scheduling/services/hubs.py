"""Hub routing: applying call events, agents' presence, assigning waiting calls to the
longest-idle agent, overflow between hubs and callbacks instead of waiting.

Lock order: a call row before any agent's presence row.

Events may come twice and in any order (each platform retries its webhooks), and from
several web processes at once. Every change to a call happens with its row locked, and
each field only moves one way (the earliest offer time, the first answer, the first
end), so applying an event twice, or late, leaves the same call. Assignment claims the
call and the agent with conditional updates; the one-agent-per-call constraint backs it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..hubs import events as ev
from ..hubs import policy
from ..hubs.events import CallEvent
from ..models import AgentPresence, Call, Callback, Hub, HubCall, Presence, RoutingDecision
from ..selectors.hubs import (
    hub_available_agents,
    hub_waiting,
    patient_ids_by_phone,
    route_for_call,
)

OPEN_STATES = (HubCall.State.WAITING, HubCall.State.ASSIGNED)
FINAL_STATES = (HubCall.State.ENDED, HubCall.State.ABANDONED, HubCall.State.CALLBACK)


def _decide(
    hc: HubCall, kind: str, reason: str, *, at: datetime, hub: Hub | None = None, agent=None
) -> None:
    RoutingDecision.objects.create(
        hub_call=hc, kind=kind, reason=reason[:200], at=at, hub=hub or hc.hub, agent=agent
    )


def _release_agent(hc: HubCall, *, at: datetime, wrap_up: bool) -> None:
    """The call lets its agent go: to wrap-up after talking, else back to what they
    were (available, or what they asked for while the call held them)."""
    presence = AgentPresence.objects.select_for_update().filter(current_call=hc).first()
    if presence is None:
        return
    presence.current_call = None
    presence.state_since = at
    if wrap_up:
        presence.state = Presence.WRAP_UP
    else:
        presence.state = presence.after_call or Presence.AVAILABLE
        presence.after_call = ""
        if presence.state == Presence.AVAILABLE:
            presence.idle_since = at
    presence.save()


def _hold_agent(hc: HubCall, user: User, *, at: datetime) -> None:
    """The platform says ``user`` is talking on ``hc``: whoever was reserved for it
    is let go and ``user`` is on this call."""
    held = AgentPresence.objects.select_for_update().filter(current_call=hc).first()
    if held is not None and held.user_id != user.pk:
        _release_agent(hc, at=at, wrap_up=False)
    presence = AgentPresence.objects.select_for_update().filter(user=user).first()
    if presence is None or presence.current_call_id == hc.pk:
        return
    if presence.state == Presence.AWAY:
        presence.after_call = Presence.AWAY
    presence.state, presence.state_since, presence.current_call = Presence.ON_CALL, at, hc
    presence.save()


def _screen_pop(hc: HubCall, user: User, *, at: datetime) -> None:
    """Open the agent's console call for an answered call: the console finds it, and the
    caller, without a keystroke."""
    if hc.call_id is not None:
        return
    hc.call = Call.objects.create(agent=user, caller_phone=hc.caller_phone, started_at=at)


def _apply(hc: HubCall, event: CallEvent, user: User | None) -> None:
    at, state = event.at, hc.state
    if event.kind == ev.OFFERED:
        hc.offered_at = min(hc.offered_at or at, at)
        hc.caller_phone = hc.caller_phone or event.caller
        hc.dialed = hc.dialed or event.dialed
        if hc.hub_id is None:
            route = route_for_call(dialed=hc.dialed, caller=hc.caller_phone)
            hc.hub, hc.urgent = route.hub, route.urgent
            urgent = "; urgent line, ahead of the queue" if route.urgent else ""
            _decide(hc, RoutingDecision.Kind.QUEUED, route.reason + urgent, at=at)
            if state == HubCall.State.WAITING and hc.hub is not None:
                ahead = hub_waiting(hub_id=hc.hub.pk).filter(hub=hc.hub).exclude(pk=hc.pk).count()
                _overflow(hc, waited=0.0, ahead=ahead, at=at)
    elif event.kind in (ev.ANSWERED, ev.TRANSFERRED):
        transfer = event.kind == ev.TRANSFERRED or (
            state == HubCall.State.ANSWERED and user is not None and hc.agent_id != user.pk
        )
        hc.offered_at = hc.offered_at or at
        hc.answered_at = min(hc.answered_at or at, at)
        if state == HubCall.State.ABANDONED:
            # The answer arrived after the hang-up: the call was answered after all.
            hc.state = HubCall.State.ENDED
        if user is not None and hc.state not in FINAL_STATES:
            if transfer and hc.agent_id and hc.agent_id != user.pk:
                _release_agent(hc, at=at, wrap_up=True)
            _hold_agent(hc, user, at=at)
            hc.agent, hc.state = user, HubCall.State.ANSWERED
            _screen_pop(hc, user, at=at)
        elif hc.state not in FINAL_STATES:
            # Answered by someone the hub does not know: it no longer waits, and whoever
            # was reserved for it is free again.
            _release_agent(hc, at=at, wrap_up=False)
            hc.state = HubCall.State.ANSWERED
        elif user is not None and hc.agent_id is None:
            hc.agent = user
        kind = RoutingDecision.Kind.TRANSFERRED if transfer else RoutingDecision.Kind.ANSWERED
        who = user.get_username() if user else "an agent this hub does not know"
        _decide(
            hc, kind, f"{'transferred to' if transfer else 'answered by'} {who}", at=at, agent=user
        )
    elif event.kind in (ev.ENDED, ev.ABANDONED):
        if hc.ended_at is not None:
            return
        hc.ended_at = at
        if hc.state == HubCall.State.CALLBACK:
            return
        answered = hc.answered_at is not None
        hc.state = HubCall.State.ENDED if answered else HubCall.State.ABANDONED
        _release_agent(hc, at=at, wrap_up=answered)
        kind = RoutingDecision.Kind.ENDED if answered else RoutingDecision.Kind.ABANDONED
        reason = "caller hung up after talking" if answered else "caller hung up while waiting"
        _decide(hc, kind, reason, at=at)
    elif event.kind == ev.CALLBACK_REQUESTED:
        if state != HubCall.State.WAITING:
            return
        hc.state, hc.ended_at = HubCall.State.CALLBACK, at
        ids = patient_ids_by_phone(hc.caller_phone)
        Callback.objects.create(
            hub_call=hc,
            patient_id=ids[0] if len(ids) == 1 else None,
            phone=hc.caller_phone,
            due_at=at + timedelta(minutes=settings.CALLBACK_DUE_MINUTES),
            created_at=at,
        )
        _decide(hc, RoutingDecision.Kind.CALLBACK, "caller chose a callback over waiting", at=at)


def hub_call_event_apply(*, event: CallEvent) -> HubCall:
    """Apply one call event, then hand waiting calls to free agents. Safe to repeat and
    to run out of order."""
    if event.kind not in ev.KINDS:
        raise ValueError(event.kind)
    user = User.objects.filter(username=event.agent).first() if event.agent else None
    with transaction.atomic():
        try:
            with transaction.atomic():
                HubCall.objects.get_or_create(sid=event.sid)
        except IntegrityError:
            pass  # another process created it first; the lock below waits for it
        hc = HubCall.objects.select_for_update().get(sid=event.sid)
        _apply(hc, event, user)
        hc.save()
    for hub_id in (hc.hub_id, hc.overflow_hub_id):
        if hub_id is not None:
            hub_dispatch(hub_id=hub_id, now=event.at)
    return hc


def _overflow(hc: HubCall, *, waited: float, ahead: int, at: datetime) -> bool:
    hub = hc.hub
    if hub is None or hc.overflow_hub_id is not None:
        return False
    rule = policy.OverflowRule(
        hub.overflow_enabled,
        hub.overflow_after_seconds,
        hub.overflow_queue_length,
        hub.overflow_to_id is not None,
    )
    why = policy.overflow_reason(rule, waited_seconds=waited, queue_length=ahead)
    if not why:
        return False
    hc.overflow_hub_id, hc.overflowed_at = hub.overflow_to_id, at
    _decide(
        hc,
        RoutingDecision.Kind.OVERFLOWED,
        f"{why}: also offered to {hub.overflow_to}",
        at=at,
        hub=hub.overflow_to,
    )
    return True


class _AgentTaken(Exception):
    pass


def hub_dispatch(*, hub_id: int, now: datetime | None = None, limit: int = 50) -> int:
    """Give this hub's waiting calls, urgent first then oldest, to its longest-idle
    available agents. Returns how many it assigned.

    Two processes may run this at once for the same hub. Each assignment claims the call
    (still waiting) and the agent (still available, holding no call) with conditional
    updates in one transaction; if either count is 0 another process got there first,
    the transaction rolls back and the loop looks again."""
    now = now or timezone.now()
    assigned = 0
    for _ in range(limit):
        call = hub_waiting(hub_id=hub_id).first()
        agent = hub_available_agents(hub_id=hub_id).first()
        if call is None or agent is None:
            break
        try:
            with transaction.atomic():
                took = HubCall.objects.filter(pk=call.pk, state=HubCall.State.WAITING).update(
                    state=HubCall.State.ASSIGNED, agent_id=agent.user_id
                )
                if not took:
                    continue
                got = AgentPresence.objects.filter(
                    pk=agent.pk, state=Presence.AVAILABLE, current_call__isnull=True
                ).update(state=Presence.ON_CALL, current_call=call, state_since=now)
                if not got:
                    raise _AgentTaken
                via = "" if call.hub_id == hub_id else " (overflow)"
                _decide(
                    call,
                    RoutingDecision.Kind.ASSIGNED,
                    f"longest-idle available agent in {agent.hub}{via}",
                    at=now,
                    hub=agent.hub,
                    agent=agent.user,
                )
        except (_AgentTaken, IntegrityError):
            continue
        assigned += 1
    return assigned


def hub_queue_sweep(*, now: datetime | None = None) -> int:
    """Overflow calls waiting past their hub's limit, offer callbacks to long waiters,
    then dispatch every hub. Returns how many calls changed. Idempotent."""
    now = now or timezone.now()
    changed = 0
    waiting = HubCall.objects.filter(state=HubCall.State.WAITING, offered_at__isnull=False)
    for pk in waiting.values_list("pk", flat=True):
        with transaction.atomic():
            hc = (
                HubCall.objects.select_for_update(of=("self",))
                .select_related("hub__overflow_to")
                .filter(pk=pk, state=HubCall.State.WAITING)
                .first()
            )
            if hc is None or hc.hub is None or hc.offered_at is None:
                continue
            waited = (now - hc.offered_at).total_seconds()
            moved = _overflow(hc, waited=waited, ahead=0, at=now)
            offer = hc.callback_offered_at is None and policy.callback_offer_due(
                waited_seconds=waited, offer_after_seconds=hc.hub.callback_offer_seconds
            )
            if offer:
                hc.callback_offered_at = now
                _decide(
                    hc,
                    RoutingDecision.Kind.CALLBACK_OFFERED,
                    f"waited {waited:.0f} s: callback offered",
                    at=now,
                )
            if moved or offer:
                hc.save(update_fields=["overflow_hub", "overflowed_at", "callback_offered_at"])
                changed += 1
    for hub_id in Hub.objects.values_list("pk", flat=True):
        hub_dispatch(hub_id=hub_id, now=now)
    return changed


def presence_set(*, user: User, state: str, now: datetime | None = None) -> AgentPresence:
    """The agent's own presence change. While a call holds the agent (ringing or
    talking) the change waits until it lets go; going away from a call that is still
    ringing sends the call back to the queue."""
    if state not in Presence.values or state == Presence.ON_CALL:
        raise ValueError(state)
    now = now or timezone.now()
    with transaction.atomic():
        # Lock order as everywhere in this module: the call row, then the presence row.
        held = AgentPresence.objects.filter(user=user).values_list("current_call_id", flat=True)
        call_id = held.first()
        if call_id is not None:
            HubCall.objects.select_for_update().filter(pk=call_id).first()
        presence = AgentPresence.objects.select_for_update().get(user=user)
        hc = presence.current_call
        # Only a call still ringing goes back; the conditional update tells, since the
        # answer may have been applied since this presence row was read.
        returned = (
            hc is not None
            and state == Presence.AWAY
            and HubCall.objects.filter(pk=hc.pk, state=HubCall.State.ASSIGNED).update(
                state=HubCall.State.WAITING, agent=None
            )
        )
        if hc is not None and returned:
            _decide(hc, RoutingDecision.Kind.RETURNED, "agent went away while it rang", at=now)
            presence.current_call = None
        elif hc is not None:
            presence.after_call = state
            presence.save(update_fields=["after_call"])
            return presence
        if presence.state == Presence.WRAP_UP and state != Presence.WRAP_UP:
            HubCall.objects.filter(
                agent=user, wrapped_at__isnull=True, ended_at__isnull=False
            ).update(wrapped_at=now)
        presence.state, presence.state_since, presence.after_call = state, now, ""
        if state == Presence.AVAILABLE:
            presence.idle_since = now
        presence.save()
    if state == Presence.AVAILABLE or hc is not None:
        hub_dispatch(hub_id=presence.hub_id, now=now)
    return presence


def presence_wrap_done(*, user: User, now: datetime | None = None) -> None:
    """The agent wrapped up their call in the console: wrap-up ends and they take calls
    again (or go where they asked to while on the call)."""
    now = now or timezone.now()
    presence = AgentPresence.objects.filter(user=user).first()
    if presence is None or presence.state != Presence.WRAP_UP:
        return
    presence_set(user=user, state=presence.after_call or Presence.AVAILABLE, now=now)
