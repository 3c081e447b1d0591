"""The slot finder: search every location at once and show what was excluded and why."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from config.permissions import OVERBOOK
from patients.models import Patient
from scheduling.models import AppointmentType, BookReason, Region
from scheduling.selectors import (
    SlotSearchResult,
    home_region_id,
    overbookable_slots,
    slot_search,
)

from .. import forms
from ..requests import AgentRequest, console_view
from ..state import ConsoleState
from .common import open_patient, respond


@require_POST
@console_view
def slots(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient = open_patient(request, state)
    data = request.POST.copy()
    if data.get("widen"):
        # One click widens from the agent's region to the whole network…
        data["region"] = ""
    elif data.get("narrow"):
        # …and one click brings it back.
        data["region"] = str(home_region_id(request.user) or "")
    form = forms.SlotFinderForm(data)
    if patient is None:
        return respond(request, state, "finder", message="Open a patient first.", status=409)
    if not form.is_valid():
        return respond(request, state, "finder", finder_form=form, status=400)
    state.finder = {
        k: (v.pk if hasattr(v, "pk") else v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in form.cleaned_data.items()
        if v not in (None, "")
    }
    result = _slot_search(request.user, patient, form.cleaned_data, state.reschedule_id)
    if result.widened_from_region_id:
        # The form shows what was searched: the location, no longer the region.
        state.finder.pop("region", None)
    return respond(
        request,
        state,
        "finder",
        finder_form=forms.SlotFinderForm(initial=state.finder),
        **finder_results(result, form.cleaned_data["appointment_type"]),
        **overbook_choices(request.user, form.cleaned_data, state.reschedule_id),
    )


def finder_again(request: AgentRequest, state: ConsoleState) -> dict[str, Any]:
    """The last slot search run again, for a full page load: a reload shows fresh results
    for the same filters (kept in the session) instead of an empty finder."""
    patient = open_patient(request, state)
    form = forms.SlotFinderForm(state.finder)
    if patient is None or not state.finder or not form.is_valid():
        return {}
    result = _slot_search(request.user, patient, form.cleaned_data, state.reschedule_id)
    return {
        **finder_results(result, form.cleaned_data["appointment_type"]),
        **overbook_choices(request.user, form.cleaned_data, state.reschedule_id),
    }


def overbook_choices(
    user: User, data: dict[str, Any], rescheduling: int | None = None
) -> dict[str, Any]:
    """Booked times a user allowed to overbook may double-book, for the provider or
    location the search was narrowed to (not while moving an appointment)."""
    if rescheduling or not user.has_perm(OVERBOOK):
        return {}
    provider, location = data.get("provider"), data.get("location")
    slots = overbookable_slots(
        provider_id=provider.pk if provider else None,
        location_id=location.pk if location else None,
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        now=timezone.now(),
    )
    return {"overbook_slots": slots, "book_reasons": BookReason.choices} if slots else {}


BEST_SHOWN = 3

# An existing-patients-only visit blocked for a caller new to the practice suggests the
# visits new patients start with (the New patient exam). The other way round there is
# no single next step: an established patient may book nearly any other type.
SUGGESTED_FOR = {AppointmentType.PatientStatus.EXISTING: AppointmentType.PatientStatus.NEW}


def finder_results(result: SlotSearchResult, appointment_type: AppointmentType) -> dict[str, Any]:
    """What the results partial renders from one search, with the next step when the
    visit type itself is blocked for this patient (the New patient exam for a caller new
    to the practice)."""
    suggested: list[AppointmentType] = []
    wanted = SUGGESTED_FOR.get(appointment_type.patient_status)  # type: ignore[call-overload]
    if result.blocked and wanted:
        suggested = list(AppointmentType.objects.filter(active=True, patient_status=wanted)[:3])
    regions = Region.objects.in_bulk(
        [pk for pk in (result.region_id, result.widened_from_region_id) if pk]
    )
    return {
        "result": result,
        # The best few lead (when there are more than that); every start then follows
        # by day in clock order.
        "best_options": result.options[:BEST_SHOWN] if len(result.options) > BEST_SHOWN else (),
        "suggested_types": suggested,
        "result_region": regions.get(result.region_id or 0),
        "widened_from_region": regions.get(result.widened_from_region_id or 0),
        "excluded_lines": (lines := _excluded_lines(result)),
        "excluded_summary": _excluded_summary(lines),
    }


def _excluded_summary(lines: list[dict[str, Any]], shown: int = 4) -> dict[str, Any]:
    """A few excluded locations with their reason, for the top of the results."""
    locations = [line for line in lines if line["kind"] == "location"]
    return {
        "locations": locations[:shown],
        "more_locations": max(0, len(locations) - shown),
        "providers": len(lines) - len(locations),
    }


def _excluded_lines(result: SlotSearchResult) -> list[dict[str, Any]]:
    """Each excluded location/provider once, its reasons without repeating its name.

    Most reasons are sentences that start with the name ("Lakewood Dental has no CBCT
    scanner…"); shown after the name in bold they read "Lakewood Dental: Lakewood Dental
    has…", so the leading name is dropped and the rest follows it.
    """
    lines = []
    for e in result.excluded:
        parts = [r[len(e.name) :].strip() if r.startswith(e.name + " ") else r for r in e.reasons]
        lines.append({"kind": e.kind, "name": e.name, "text": "; ".join(parts)})
    return lines


def _slot_search(
    user: User, patient: Patient, data: dict[str, Any], rescheduling: int | None = None
) -> SlotSearchResult:
    """The network-wide ``slot_search``: the console only presents what it returns.

    The region comes from the form, which starts at the agent's home region; an empty
    region ("Whole network") means every location, so the selector's own home-region
    default is switched off here.
    """
    return slot_search(
        patient=patient,
        appointment_type=data["appointment_type"],
        provider=data.get("provider"),
        location=data.get("location"),
        region=data.get("region"),
        date_from=data.get("date_from"),
        date_to=data.get("date_to"),
        time_of_day=data.get("time_of_day") or "any",
        max_distance_miles=data.get("max_distance"),
        user=user,
        home_region_only=False,
        # Only when the agent asks; slot_search honours it only with the permission.
        allow_out_of_network=bool(data.get("out_of_network")),
        # While moving an appointment, its own time is not a clash for the new one.
        rescheduling=rescheduling,
    )
