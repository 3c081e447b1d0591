"""The console page, and the patient panel: search, open, register."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.views.decorators.http import require_GET, require_POST

from config.htmx import render_page
from config.inputs import parse_id
from patients.models import Patient
from patients.services import PossibleDuplicate, patient_register

from .. import forms
from ..readmodel import PANELS, TEMPLATE, Panels, patient_search
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import attach_patient_to_call, refuse, respond


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------
@require_GET
@console_view
def console_home(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    panels = Panels(request, state)
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
    hits = patient_search(query=form.cleaned_data["query"], user=request.user)
    return respond(request, state, "search", search_form=form, hits=hits, searched=True)


@require_POST
@console_view
def patient_open(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient_id = parse_id(request.POST.get("patient_id", ""))
    if patient_id is None:
        return respond(request, state, "flash", message="Pick a patient.", level=messages.ERROR)
    if not Patient.objects.filter(pk=patient_id).exists():
        return respond(
            request, state, "flash", message="That patient no longer exists.", level=messages.ERROR
        )
    if state.patient_id != patient_id:
        state.reschedule_id = None
    state.opened(patient_id)
    attach_patient_to_call(request, state)
    return respond(request, state, "context", "callbar", "finder", "hold")


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
    return respond(
        request,
        state,
        "context",
        "register",
        "callbar",
        "finder",
        message="Patient registered.",
    )
