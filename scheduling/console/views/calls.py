"""The call bar: start a call, wrap it up with its outcome."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from scheduling import services
from scheduling.models import Call

from .. import forms
from ..readmodel import patient_search_results
from ..requests import AgentRequest, console_view, read_once
from ..state import ConsoleState
from .common import current_call, open_patient, refuse, respond, service_error


@require_POST
@console_view
def call_start(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.CallStartForm(request.POST)
    if not form.is_valid():
        return respond(request, state, "callbar", call_form=form, status=400)
    if current_call(request, state) is not None:
        return refuse(
            request,
            state,
            "callbar",
            message="Wrap up the current call before starting another.",
            status=409,
        )
    state.clear_call()
    call = services.call_start(
        agent=request.user,
        caller_phone=form.cleaned_data["caller_phone"],
        reason=form.cleaned_data["reason"],
    )
    state.call_id = call.pk
    read_once(request)[Call, call.pk] = call  # the panels show it
    # The caller's number prefills the patient search: most callers are found by it.
    search_form = forms.SearchForm(initial={"query": call.caller_phone})
    results = (
        patient_search_results(query=call.caller_phone, user=request.user)
        if call.caller_phone
        else None
    )
    state.search = results.remembered() if results else {}
    return respond(
        request,
        state,
        "callbar",
        "search",
        "context",
        "finder",
        "hold",
        "register",
        search_form=search_form,
        search_results=results,
    )


@require_POST
@console_view
def call_wrap_up(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    call = current_call(request, state)
    if call is None:
        return respond(
            request, state, "callbar", message="There is no call in progress.", level=messages.ERROR
        )
    form = forms.WrapUpForm(request.POST)
    if not form.is_valid():
        return respond(request, state, "callbar", wrapup_form=form, status=400)
    patient = open_patient(request, state)
    try:
        ended = services.call_wrap_up(
            call=call,
            by=request.user,
            outcome=form.cleaned_data["outcome"],
            notes=form.cleaned_data["notes"],
            patient=patient,
            reason=form.cleaned_data["reason"],
            callback_due=(
                timezone.now() + timedelta(minutes=form.cleaned_data["callback_in"])
                if form.cleaned_data.get("callback_in")
                else None
            ),
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "callbar")
    state.clear_call()
    handled = (ended.ended_at or ended.started_at) - ended.started_at
    minutes, seconds = divmod(int(handled.total_seconds()), 60)
    response = respond(
        request,
        state,
        "callbar",
        "search",
        "context",
        "finder",
        "hold",
        "register",
        last_call=ended,
        message=f"Call wrapped up: {ended.get_outcome_display()} after {minutes}:{seconds:02d}.",
    )
    if ended.outcome == Call.Outcome.CALLBACK:
        response["HX-Trigger"] = "worklist-changed"  # the new callback shows at once
    return response
