"""The agent's worklist beside the console: callbacks owed, soonest due first, and
waitlist patients who fit time freed by any cancellation (an agent's, a partner app's,
a location front desk's). It lives in its own template and refreshes on its own."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.audit import audit_access_by_id
from patients.models import Patient
from scheduling import selectors, services
from scheduling.models import Callback, Slot, Waitlist

from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import attach_patient_to_call, current_call, refuse, respond, service_error

TEMPLATE = "console/worklist.html"
# How far back freed time is looked for: a cancellation from yesterday is still news.
FREED_SINCE = timedelta(hours=24)
# Patients whose names this session's worklist has shown (audited once each).
AUDITED_KEY = "worklist_audited"
CHANGED = "worklist-changed"


@require_GET
@console_view
def worklist(request: AgentRequest) -> HttpResponse:
    now = timezone.now()
    callbacks = selectors.callbacks_due(agent=request.user)
    matches = selectors.waitlist_matches_recently_freed(
        since=now - FREED_SINCE, region_id=selectors.home_region_id(request.user)
    )
    referrals = selectors.referrals_waiting()
    shown = (
        {c.patient_id for c in callbacks if c.patient_id}
        | {m.patient_id for m in matches}
        | {r.patient_id for r in referrals}
    )
    audited = set(request.session.get(AUDITED_KEY, []))
    if shown - audited:
        audit_access_by_id(
            actor=request.user,
            model=Patient,
            pks=sorted(shown - audited),
            additional_data={"surface": "console worklist"},
        )
        request.session[AUDITED_KEY] = sorted(audited | shown)[-500:]
    return render(
        request,
        TEMPLATE,
        {"callbacks": callbacks, "matches": matches, "referrals": referrals, "now": now},
    )


def _id(request: AgentRequest, name: str) -> int | None:
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return None


@require_POST
@console_view
def callback_start(request: AgentRequest) -> HttpResponse:
    """Return a callback: a new call to that patient starts, with the patient open."""
    state = ConsoleState.load(request.session)
    callback = (
        Callback.objects.filter(pk=_id(request, "callback_id") or 0)
        .select_related("patient")
        .first()
    )
    if callback is None:
        return refuse(
            request, state, "flash", message="That callback no longer exists.", status=404
        )
    if current_call(request, state) is not None:
        return refuse(
            request,
            state,
            "flash",
            message="Wrap up the current call before starting another.",
            status=409,
        )
    try:
        call = services.callback_start(callback=callback, by=request.user)
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "flash")
    state.clear_call()
    state.call_id = call.pk
    if callback.patient_id:
        state.opened(callback.patient_id)
    response = respond(
        request,
        state,
        "callbar",
        "search",
        "context",
        "finder",
        "hold",
        "register",
        message="Callback started: the call is open.",
    )
    response["HX-Trigger"] = CHANGED
    return response


@require_POST
@console_view
def waitlist_offer(request: AgentRequest) -> HttpResponse:
    """Open a waiting patient to offer them freed time; the entry becomes offered."""
    state = ConsoleState.load(request.session)
    entry = Waitlist.objects.filter(pk=_id(request, "entry_id") or 0).first()
    slot = Slot.objects.filter(pk=_id(request, "slot_id") or 0).first()
    if entry is None or slot is None:
        return refuse(
            request, state, "flash", message="That waitlist entry no longer exists.", status=404
        )
    if not services.waitlist_offer(entry=entry, slot=slot, by=request.user):
        return refuse(
            request, state, "flash", message="That patient is no longer waiting.", status=409
        )
    if state.patient_id != entry.patient_id:
        state.reschedule_id = None
    state.opened(entry.patient_id)
    attach_patient_to_call(request, state)
    response = respond(
        request,
        state,
        "context",
        "callbar",
        "finder",
        "hold",
        message="Offer the freed time; book it from the slot finder.",
    )
    response["HX-Trigger"] = CHANGED
    return response
