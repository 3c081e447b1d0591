"""Referrals in the console: open one from the worklist to book it, or record one from a
letter while the patient is open. The booking answers the referral by itself
(``scheduling.receivers.referrals_follow_booking``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_POST

from scheduling import services
from scheduling.models import AgentProfile, Referral

from .. import forms
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import attach_patient_to_call, open_patient, refuse, respond, service_error

CHANGED = "worklist-changed"


@require_POST
@console_view
def referral_open(request: AgentRequest) -> HttpResponse:
    """Open the referred patient with the requested visit type in the slot finder."""
    state = ConsoleState.load(request.session)
    try:
        pk = int(request.POST.get("referral_id", ""))
    except ValueError:
        pk = 0
    referral = Referral.objects.filter(pk=pk, status=Referral.Status.OPEN).first()
    if referral is None:
        return refuse(
            request, state, "flash", message="That referral is no longer waiting.", status=404
        )
    if state.patient_id != referral.patient_id:
        state.reschedule_id = None
    state.opened(referral.patient_id)
    profile = AgentProfile.objects.filter(user=request.user).first()
    state.finder = {"appointment_type": referral.appointment_type_id}
    if profile and profile.home_region_id:
        state.finder["region"] = profile.home_region_id
    attach_patient_to_call(request, state)
    response = respond(
        request,
        state,
        "context",
        "callbar",
        "finder",
        "hold",
        message="Referral opened: booking the requested visit answers it.",
    )
    response["HX-Trigger"] = CHANGED
    return response


@require_POST
@console_view
def referral_add(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient = open_patient(request, state)
    form = forms.ReferralForm(request.POST, prefix="rf")
    if patient is None:
        return respond(request, state, "flash", message="Open a patient first.", status=409)
    if not form.is_valid():
        return respond(request, state, "context", referral_form=form, status=400)
    data = form.cleaned_data
    try:
        services.referral_create(
            by=request.user,
            patient=patient,
            appointment_type=data["appointment_type"],
            referring_provider=data["referring_provider"],
            referring_npi=data["referring_npi"] or "",
            reason=data["reason"],
            priority=data["priority"],
        )
    except services.SchedulingError as exc:
        return service_error(request, state, exc, "context")
    response = respond(request, state, "context", message="Referral recorded.")
    response["HX-Trigger"] = CHANGED
    return response
