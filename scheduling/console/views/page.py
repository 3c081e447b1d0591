"""The console page, and the patient panel: search, open, register."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from config.htmx import render_page
from config.inputs import parse_id
from patients.models import Patient
from patients.selectors import patient_with_home
from patients.services import PossibleDuplicate, patient_register
from scheduling import selectors, services
from scheduling.services import SchedulingError, agent_shortcuts_set

from .. import forms
from ..readmodel import PANELS, TEMPLATE, Panels, patient_search_results
from ..requests import IN_SCOPE, AgentRequest, console_view, read_once
from ..state import ConsoleState
from .common import attach_patient_to_call, current_call, recover_open_work, refuse, respond
from .finder import finder_again

ERR_OUTSIDE_REGION = (
    "This patient is outside your home region. To open the record for this call, say why; "
    "the reason and the opening are audited."
)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------
@require_GET
@console_view
def console_home(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    recovered = recover_open_work(request, state)
    panels = Panels(request, state)
    if recovered:
        panels.extra.update(flash_message=recovered, flash_level="info")
    panels.extra.update(finder_again(request, state))
    ctx = panels.context_for(PANELS)
    ctx["oob"] = False
    state.save(request.session)
    return render_page(request, TEMPLATE, ctx)


# ---------------------------------------------------------------------------
# Patient: search, open, register
# ---------------------------------------------------------------------------
@require_POST
@console_view
def search(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.SearchForm(request.POST)
    if not form.is_valid():
        return respond(request, state, "search", search_form=form, status=400)
    results = patient_search_results(query=form.cleaned_data["query"], user=request.user)
    state.search = results.remembered()
    return respond(request, state, "search", search_form=form, search_results=results)


@require_POST
@console_view
def patient_open(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient_id = parse_id(request.POST.get("patient_id", ""))
    if patient_id is None:
        return respond(request, state, "flash", message="Pick a patient.", level=messages.ERROR)
    reads = read_once(request)
    # Attaching it to the call and drawing the context read it from here.
    patient = reads[Patient, patient_id] = patient_with_home(patient_id=patient_id)
    if patient is None:
        return respond(
            request, state, "flash", message="That patient no longer exists.", level=messages.ERROR
        )
    if selectors.patient_in_scope(request.user, patient_id):
        reads.setdefault(IN_SCOPE, set()).add(patient_id)
    else:
        refused = _widen(request, state, patient)
        if refused is not None:
            return refused
    if state.patient_id != patient_id:
        state.reschedule_id = None
    state.opened(patient_id)
    attach_patient_to_call(request, state)
    return respond(request, state, "context", "callbar", "finder", "hold")


def _widen(request: AgentRequest, state: ConsoleState, patient: Patient) -> HttpResponse | None:
    """Break-glass for a patient outside the agent's region: with a reason and an open
    call, widen (audited) and go on; otherwise answer with the reason form."""
    reason = request.POST.get("widen_reason", "")
    message = ERR_OUTSIDE_REGION
    if reason:
        try:
            services.access_widen(
                user=request.user,
                patient=patient,
                call=current_call(request, state),
                reason=reason,
            )
            return None
        except SchedulingError as exc:
            message = exc.message
    widen = {"patient_id": patient.pk, "message": message, "reason": reason}
    return refuse(request, state, "context", message=message, status=403, widen=widen)


@require_POST
@console_view
def register(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.RegisterForm(request.POST)
    if not form.is_valid():
        return respond(request, state, "register", register_form=form, status=400)
    data = {k: v for k, v in form.cleaned_data.items() if k != "confirmed_not_duplicate"}
    try:
        patient = patient_register(
            data=data,
            by=request.user,
            confirmed_not_duplicate=form.cleaned_data["confirmed_not_duplicate"],
        )
    except PossibleDuplicate as dup:
        return respond(
            request,
            state,
            "register",
            register_form=form,
            duplicates=dup.candidates,
            message=str(dup),
            level=messages.WARNING,
            status=409,
        )
    except PermissionDenied as exc:
        return refuse(request, state, "flash", message=str(exc), status=403)
    state.opened(patient.pk)
    attach_patient_to_call(request, state)
    # The form's own panel answers first: htmx swaps the first fragment into the
    # request's target (#register), so the context must come out of band like the rest.
    return respond(
        request,
        state,
        "register",
        "context",
        "callbar",
        "finder",
        message="Patient registered.",
    )


# ---------------------------------------------------------------------------
# The agent's keyboard shortcuts
# ---------------------------------------------------------------------------
@require_POST
@console_view
def shortcuts_save(request: AgentRequest) -> HttpResponse:
    """Turn the shortcuts on or off, or remap them; the page reloads with them."""
    form = forms.ShortcutsForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for field in form.errors.values() for e in field)
        messages.error(request, f"Shortcuts not saved: {errors}")
        return redirect("console:home")
    agent_shortcuts_set(user=request.user, enabled=form.cleaned_data["enabled"], keys=form.keys())
    messages.info(
        request,
        "Keyboard shortcuts saved." if form.cleaned_data["enabled"] else "Keyboard shortcuts off.",
    )
    return redirect("console:home")
