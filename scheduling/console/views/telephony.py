"""The console and the telephone: the screen pop when the agent answers a routed call,
and the agent's presence (available, away) that routing reads."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.views.decorators.http import require_POST

from scheduling import selectors, services
from scheduling.models import Presence
from scheduling.selectors.hubs import agent_answered_call, agent_presence

from .. import forms
from ..readmodel import patient_search_results
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import attach_patient_to_call, current_call, respond

AGENT_STATES = (Presence.AVAILABLE, Presence.AWAY)
ERR_NO_PRESENCE = "You are not on a hub's team, so calls are not routed to you."
ERR_PRESENCE = "Pick available or away."


@require_POST
@console_view
def screen_pop(request: AgentRequest) -> HttpResponse:
    """Polled by the console in the background. When the platform reports the agent
    answered a call, start it here, search by the caller's number and open the patient
    when exactly one matches, with no keystroke. 204 when there is nothing new."""
    state = ConsoleState.load(request.session)
    call = agent_answered_call(user=request.user)
    if call is None or call.pk == state.call_id or current_call(request, state) is not None:
        return HttpResponse(status=204)
    state.clear_call()
    state.call_id = call.pk
    results = (
        patient_search_results(query=call.caller_phone, user=request.user)
        if call.caller_phone
        else None
    )
    state.search = results.remembered() if results else {}
    if results is not None and len(results.hits) == 1:
        only = results.hits[0]
        if selectors.patient_in_scope(request.user, only.id):
            state.opened(only.id)
            attach_patient_to_call(request, state)
    return respond(
        request,
        state,
        "callbar",
        "search",
        "context",
        "finder",
        "hold",
        "register",
        search_form=forms.SearchForm(initial={"query": call.caller_phone}),
        search_results=results,
        message="Call answered.",
    )


@require_POST
@console_view
def presence(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    wanted = request.POST.get("state", "")
    if agent_presence(user=request.user) is None:
        return respond(request, state, "callbar", message=ERR_NO_PRESENCE, level=messages.ERROR)
    if wanted not in AGENT_STATES:
        return respond(
            request, state, "callbar", message=ERR_PRESENCE, level=messages.ERROR, status=400
        )
    services.presence_set(user=request.user, state=wanted)
    return respond(request, state, "callbar")
