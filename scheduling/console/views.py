"""The agent console: one page, htmx fragments rendered from the same template.

Views stay thin: they validate with a form, call one selector or service, and render
the panels that changed (the first replaces the request's target, the rest swap in
out-of-band). Without htmx every action redirects back to the page, which renders all
panels from the session state, so the console also works as plain HTML forms.
Errors people read come from the services as constant messages and are shown in the
page, never as a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.htmx import HtmxHttpRequest, render_page, vary_on_htmx
from patients.models import Patient
from patients.selectors import patient_context, patient_search
from patients.services import PossibleDuplicate, patient_register
from scheduling import services
from scheduling.models import (
    AgentProfile,
    Appointment,
    AppointmentType,
    Call,
    CallReason,
    Hold,
    Region,
    Slot,
)
from scheduling.selectors import (
    SlotSearchResult,
    home_region_id,
    slot_network_reasons,
    slot_search,
    waitlist_matches_for_slots,
)

from . import forms
from .state import ConsoleState


class AgentRequest(HtmxHttpRequest):
    """What the views see after the middleware and ``console_view``: a logged-in user."""

    user: User


TEMPLATE = "console/console.html"
OVERRIDE_REASON_MISSING = "Booking out of network needs an override reason; nothing was booked."
MOVE_OVERRIDE_REASON_MISSING = (
    "Moving out of network needs an override reason; the appointment was not moved."
)
PANELS = ("flash", "callbar", "search", "register", "context", "finder", "hold")

View = Callable[..., HttpResponse]


def console_view(view: View) -> View:
    """Login (middleware) plus the console permission: anyone else gets a 403."""
    return permission_required("scheduling.use_console", raise_exception=True)(view)


class Panels:
    """Builds the template context for the panels a response renders."""

    def __init__(self, request: AgentRequest, state: ConsoleState) -> None:
        self.request = request
        self.state = state
        self.extra: dict[str, Any] = {}

    def context_for(self, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        request, state = self.request, self.state
        ctx: dict[str, Any] = {"state": state, **self.extra}
        call = (
            Call.objects.filter(pk=state.call_id, agent=request.user).first()
            if state.call_id
            else None
        )
        ctx["call"] = call
        ctx.setdefault("call_form", forms.CallStartForm())
        # Prefilled from what the call did (strongest outcome) and the reason given at start.
        ctx.setdefault(
            "wrapup_form",
            forms.WrapUpForm(initial=state.wrapup_initial(call.reason if call else "")),
        )
        ctx.setdefault(
            "search_form",
            forms.SearchForm(initial={"query": call.caller_phone if call else ""}),
        )
        # A caller who is not on file is usually registered with the number they rang from.
        ctx.setdefault(
            "register_form",
            forms.RegisterForm(initial={"phone": call.caller_phone if call else ""}),
        )
        if "context" in names and state.patient_id and "pc" not in ctx:
            try:
                on_call = call is not None and call.ended_at is None
                ctx["pc"] = patient_context(
                    patient_id=state.patient_id,
                    user=request.user,
                    audit=state.access_to_audit(on_call=on_call),
                )
            except Patient.DoesNotExist:
                state.patient_id = None
        ctx.setdefault("waitlist_form", forms.WaitlistForm(prefix="wl"))
        ctx.setdefault("cancel_form", forms.CancelForm())
        ctx.setdefault("book_form", forms.BookForm())
        if "finder" in names:
            ctx.setdefault("finder_form", self._finder_form())
        if "hold" in names or "finder" in names:
            self._hold_context(ctx)
        profile = AgentProfile.objects.filter(user=request.user).select_related("home_region")
        ctx["home_region"] = next((p.home_region for p in profile), None)
        return ctx

    def _finder_form(self) -> forms.SlotFinderForm:
        """The finder starts from the last search, else from the agent's home region."""
        state = self.state
        if state.finder:
            return forms.SlotFinderForm(initial=state.finder)
        initial: dict[str, Any] = {}
        profile = AgentProfile.objects.filter(user=self.request.user).first()
        if profile and profile.home_region_id:
            initial["region"] = profile.home_region_id
        if state.reschedule_id:
            appt = Appointment.objects.filter(pk=state.reschedule_id).first()
            if appt:
                initial["appointment_type"] = appt.appointment_type_id
        return forms.SlotFinderForm(initial=initial)

    def _hold_context(self, ctx: dict[str, Any]) -> None:
        state, now = self.state, timezone.now()
        hold = None
        if state.hold_id:
            hold = (
                Hold.objects.select_related("slot__location", "slot__provider")
                .filter(
                    pk=state.hold_id,
                    held_by=self.request.user,
                    released_at__isnull=True,
                    consumed_at__isnull=True,
                    expires_at__gt=now,
                )
                .first()
            )
            if hold is None:
                state.hold_id = None
        ctx["hold"] = hold
        if hold is not None:
            ctx["hold_seconds"] = int((hold.expires_at - now).total_seconds())
            # Same m:ss the script ticks, so the first paint does not read "179s".
            ctx["hold_clock"] = "{}:{:02d}".format(*divmod(max(0, ctx["hold_seconds"]), 60))
            ctx["held_type"] = AppointmentType.objects.filter(
                pk=state.appointment_type_id or 0
            ).first()
        ctx["rescheduling"] = (
            Appointment.objects.select_related("location", "appointment_type")
            .filter(pk=state.reschedule_id, status=Appointment.Status.BOOKED)
            .first()
            if state.reschedule_id
            else None
        )
        if state.freed_slot_ids and "waitlist_matches" not in ctx:
            ctx["waitlist_matches"] = waitlist_matches_for_slots(slot_ids=state.freed_slot_ids)

    def render(self, *names: str, status: int = 200) -> HttpResponse:
        ordered = list(names) + (["flash"] if "flash" not in names else [])
        ctx = self.context_for(ordered)
        self.state.save(self.request.session)
        html = []
        for index, name in enumerate(ordered):
            ctx["oob"] = index > 0
            html.append(render_to_string(f"{TEMPLATE}#{name}", ctx, self.request))
        return vary_on_htmx(HttpResponse("".join(html), status=status))


def _respond(
    request: AgentRequest,
    state: ConsoleState,
    *names: str,
    message: str = "",
    level: int = messages.INFO,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    """Render the changed panels for htmx, or redirect back to the page for plain HTML."""
    if not request.htmx:
        state.save(request.session)
        if message:
            messages.add_message(request, level, message)
        return redirect("console:home")
    panels = Panels(request, state)
    panels.extra.update(extra)
    if message:
        panels.extra["flash_message"] = message
        panels.extra["flash_level"] = "error" if level >= messages.WARNING else "info"
    return panels.render(*names, status=status)


def _refuse(
    request: AgentRequest,
    state: ConsoleState,
    *names: str,
    message: str,
    status: int,
    **extra: Any,
) -> HttpResponse:
    """Turn the request down: a constant message shown as an error, with its HTTP status."""
    return _respond(
        request, state, *names, message=message, level=messages.ERROR, status=status, **extra
    )


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
        return _respond(request, state, "search", search_form=form, status=400)
    hits = patient_search(query=form.cleaned_data["query"], user=request.user)
    return _respond(request, state, "search", search_form=form, hits=hits, searched=True)


@require_POST
@console_view
def patient_open(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    try:
        patient_id = int(request.POST.get("patient_id", ""))
    except ValueError:
        return _respond(request, state, "flash", message="Pick a patient.", level=messages.ERROR)
    if not Patient.objects.filter(pk=patient_id).exists():
        return _respond(
            request, state, "flash", message="That patient no longer exists.", level=messages.ERROR
        )
    if state.patient_id != patient_id:
        state.reschedule_id = None
    state.opened(patient_id)
    _attach_patient_to_call(request, state)
    return _respond(request, state, "context", "callbar", "finder", "hold")


def _attach_patient_to_call(request: AgentRequest, state: ConsoleState) -> None:
    """The call record names the patient it turned out to be about (for FCR by patient)."""
    call = _current_call(request, state)
    patient = _patient(state)
    if call is not None and patient is not None:
        services.call_attach_patient(call=call, patient=patient, by=request.user)


@require_POST
@console_view
def register(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.RegisterForm(request.POST)
    if not form.is_valid():
        return _respond(request, state, "register", register_form=form, status=400)
    data = {k: v for k, v in form.cleaned_data.items() if k != "confirmed_not_duplicate"}
    try:
        patient = patient_register(
            data=data,
            by=request.user,
            confirmed_not_duplicate=form.cleaned_data["confirmed_not_duplicate"],
        )
    except PossibleDuplicate as dup:
        return _respond(
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
        return _refuse(request, state, "flash", message=str(exc), status=403)
    state.opened(patient.pk)
    _attach_patient_to_call(request, state)
    return _respond(
        request,
        state,
        "context",
        "register",
        "callbar",
        "finder",
        message="Patient registered.",
    )


# ---------------------------------------------------------------------------
# Call bar
# ---------------------------------------------------------------------------
def _current_call(request: AgentRequest, state: ConsoleState) -> Call | None:
    if not state.call_id:
        return None
    call = Call.objects.filter(pk=state.call_id, agent=request.user, ended_at__isnull=True).first()
    if call is None:
        state.call_id = None
    return call


def _error(request: AgentRequest, state: ConsoleState, exc: Exception, *names: str) -> HttpResponse:
    """A service refused: show its constant message (and rule reasons) in the page."""
    message = str(exc)
    details = getattr(exc, "details", None)
    if details:
        message = f"{message} {' '.join(details)}"
    status = getattr(exc, "status_code", 409)
    return _refuse(request, state, *(names or ("flash",)), message=message, status=status)


@require_POST
@console_view
def call_start(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.CallStartForm(request.POST)
    if not form.is_valid():
        return _respond(request, state, "callbar", call_form=form, status=400)
    if _current_call(request, state) is not None:
        return _refuse(
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
    # The caller's number prefills the patient search: most callers are found by it.
    search_form = forms.SearchForm(initial={"query": call.caller_phone})
    hits = patient_search(query=call.caller_phone, user=request.user) if call.caller_phone else None
    return _respond(
        request,
        state,
        "callbar",
        "search",
        "context",
        "finder",
        "hold",
        "register",
        search_form=search_form,
        hits=hits,
        searched=hits is not None,
    )


@require_POST
@console_view
def call_wrap_up(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    call = _current_call(request, state)
    if call is None:
        return _respond(
            request, state, "callbar", message="There is no call in progress.", level=messages.ERROR
        )
    form = forms.WrapUpForm(request.POST)
    if not form.is_valid():
        return _respond(request, state, "callbar", wrapup_form=form, status=400)
    patient = Patient.objects.filter(pk=state.patient_id).first() if state.patient_id else None
    try:
        ended = services.call_wrap_up(
            call=call,
            by=request.user,
            outcome=form.cleaned_data["outcome"],
            notes=form.cleaned_data["notes"],
            patient=patient,
            reason=form.cleaned_data["reason"],
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "callbar")
    state.clear_call()
    handled = (ended.ended_at or ended.started_at) - ended.started_at
    minutes, seconds = divmod(int(handled.total_seconds()), 60)
    return _respond(
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


# ---------------------------------------------------------------------------
# Hold, book, reschedule, cancel, waitlist
# ---------------------------------------------------------------------------
def _patient(state: ConsoleState) -> Patient | None:
    return Patient.objects.filter(pk=state.patient_id).first() if state.patient_id else None


@require_POST
@console_view
def hold(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.HoldForm(request.POST)
    slot = (
        Slot.objects.filter(pk=form.data.get("slot_id") or 0).first() if form.is_valid() else None
    )
    if slot is None:
        return _refuse(request, state, "hold", message=services.SlotUnavailable.message, status=409)
    type_id = str(
        request.POST.get("appointment_type_id") or state.finder.get("appointment_type") or ""
    )
    appointment_type = (
        AppointmentType.objects.filter(pk=int(type_id)).first() if type_id.isdigit() else None
    )
    call = _current_call(request, state)
    try:
        # With the type, every unit a long visit needs is held, not just the first.
        placed = services.hold_place(
            slot=slot,
            by=request.user,
            call=call,
            patient=_patient(state),
            appointment_type=appointment_type,
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "hold")
    # One hold at a time per agent console: holding another slot gives the first back.
    if state.hold_id and state.hold_id != placed.pk:
        previous = Hold.objects.filter(pk=state.hold_id, held_by=request.user).first()
        if previous is not None:
            services.hold_release(hold=previous, by=request.user)
    state.hold_id = placed.pk
    state.appointment_type_id = appointment_type.pk if appointment_type else None
    state.hold_network_note = _network_note(state, slot, appointment_type)
    state.freed_slot_ids = []
    return _respond(request, state, "hold")


def _network_note(state: ConsoleState, slot: Slot, appointment_type: AppointmentType | None) -> str:
    """Why the held slot is out of network for the patient's plan, once per hold, so the
    hold panel asks for the override reason only when one is needed."""
    patient = _patient(state)
    if patient is None or appointment_type is None:
        return ""
    reasons = slot_network_reasons(
        patient=patient, appointment_type=appointment_type, slot=slot, now=timezone.now()
    )
    return "; ".join(reasons)


@require_POST
@console_view
def release(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    held = Hold.objects.filter(pk=state.hold_id or 0, held_by=request.user).first()
    if held is not None:
        services.hold_release(hold=held, by=request.user)
    state.hold_id = None
    return _respond(request, state, "hold", message="Hold released.")


def _held(request: AgentRequest, state: ConsoleState) -> Hold | None:
    """The hold this console placed; the service still checks it is live and the agent's."""
    return (
        Hold.objects.select_related("slot")
        .filter(pk=state.hold_id or 0, held_by=request.user)
        .first()
    )


@require_POST
@console_view
def book(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.BookForm(request.POST)
    patient = _patient(state)
    held = _held(request, state)
    appointment_type = AppointmentType.objects.filter(pk=state.appointment_type_id or 0).first()
    if patient is None or held is None or appointment_type is None:
        return _refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    if not form.is_valid():
        return _respond(request, state, "hold", book_form=form, status=400)
    if state.hold_network_note and not form.cleaned_data["network_override_reason"]:
        # Refused here with the reason spelled out; the service would refuse it too.
        return _refuse(
            request,
            state,
            "hold",
            book_form=form,
            message=f"{OVERRIDE_REASON_MISSING} {state.hold_network_note}.",
            status=400,
        )
    try:
        booked = services.appointment_book(
            hold=held,
            patient=patient,
            appointment_type=appointment_type,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=_current_call(request, state),
            network_override_reason=form.cleaned_data["network_override_reason"],
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "hold")
    state.hold_id = None
    state.hold_network_note = ""
    # The visit's booking reason is why they called (the seeded history does the same).
    state.did(Call.Outcome.BOOKED, booked.book_reason)
    return _show_booked(request, state, booked, message="Booked.")


def _show_booked(
    request: AgentRequest, state: ConsoleState, appointment: Appointment, *, message: str
) -> HttpResponse:
    """After a booking or a reschedule the hold is spent and the new visit shows in the
    hold panel, the patient's context, the finder and the call bar alike."""
    return _respond(
        request,
        state,
        "hold",
        "context",
        "finder",
        "callbar",
        booked=appointment,
        message=message,
    )


def _own_appointment(state: ConsoleState, appointment_id: int) -> Appointment | None:
    """Appointments are acted on only for the patient whose context is open."""
    return (
        Appointment.objects.select_related("location", "provider", "appointment_type")
        .filter(pk=appointment_id, patient_id=state.patient_id or 0)
        .first()
    )


@require_POST
@console_view
def reschedule_start(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.AppointmentActionForm(request.POST)
    appt = _own_appointment(state, form.cleaned_data["appointment_id"]) if form.is_valid() else None
    if appt is None or not appt.is_active:
        return _refuse(
            request, state, "flash", message=services.AppointmentNotActive.message, status=409
        )
    state.reschedule_id = appt.pk
    state.finder = {}
    finder_form = forms.SlotFinderForm(
        initial={
            "appointment_type": appt.appointment_type_id,
            "region": appt.location.region_id,
        }
    )
    return _respond(
        request,
        state,
        "finder",
        "hold",
        "context",
        finder_form=finder_form,
        message="Pick the new slot, hold it, then confirm the reschedule.",
    )


@require_POST
@console_view
def reschedule(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.RescheduleForm(request.POST)
    if not form.is_valid():
        return _refuse(request, state, "hold", message=services.InvalidReason.message, status=400)
    appt = _own_appointment(state, form.cleaned_data["appointment_id"])
    held = _held(request, state)
    if appt is None or held is None:
        return _refuse(request, state, "hold", message=services.HoldExpired.message, status=409)
    override = form.cleaned_data["network_override_reason"].strip()
    if state.hold_network_note and not override:
        # As for a booking: refused here with the reason spelled out.
        return _refuse(
            request,
            state,
            "hold",
            message=f"{MOVE_OVERRIDE_REASON_MISSING} {state.hold_network_note}.",
            status=400,
        )
    try:
        moved = services.appointment_reschedule(
            appointment=appt,
            hold=held,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=_current_call(request, state),
            network_override_reason=override if state.hold_network_note else "",
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "hold")
    state.hold_id = None
    state.reschedule_id = None
    state.freed_slot_ids = services.freed_slot_ids(appt)
    state.did(Call.Outcome.RESCHEDULED, CallReason.RESCHEDULE)
    return _show_booked(request, state, moved, message="Rescheduled.")


@require_POST
@console_view
def cancel(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    form = forms.CancelForm(request.POST)
    if not form.is_valid():
        return _refuse(request, state, "flash", message=services.InvalidReason.message, status=400)
    appt = _own_appointment(state, form.cleaned_data["appointment_id"])
    if appt is None:
        return _refuse(
            request, state, "flash", message=services.AppointmentNotActive.message, status=409
        )
    try:
        services.appointment_cancel(
            appointment=appt,
            by=request.user,
            reason=form.cleaned_data["reason"],
            call=_current_call(request, state),
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "context")
    if state.reschedule_id == appt.pk:
        state.reschedule_id = None
    state.freed_slot_ids = services.freed_slot_ids(appt)
    state.did(Call.Outcome.CANCELLED, CallReason.CANCEL)
    return _respond(
        request,
        state,
        "context",
        "hold",
        "callbar",
        message="Appointment cancelled.",
    )


@require_POST
@console_view
def waitlist_add(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient = _patient(state)
    form = forms.WaitlistForm(request.POST, prefix="wl")
    if patient is None:
        return _respond(request, state, "flash", message="Open a patient first.", status=409)
    if not form.is_valid():
        return _respond(request, state, "context", waitlist_form=form, status=400)
    data = form.cleaned_data
    try:
        services.waitlist_add(
            patient=patient,
            appointment_type=data["appointment_type"],
            by=request.user,
            earliest=data["earliest"],
            latest=data["latest"],
            time_of_day=data["time_of_day"] or "any",
            locations=data["locations"],
            notes=data["notes"],
        )
    except services.SchedulingError as exc:
        return _error(request, state, exc, "context")
    return _respond(request, state, "context", message="Added to the waitlist.")


# ---------------------------------------------------------------------------
# Slot finder
# ---------------------------------------------------------------------------
@require_POST
@console_view
def slots(request: AgentRequest) -> HttpResponse:
    state = ConsoleState.load(request.session)
    patient = _patient(state)
    data = request.POST.copy()
    if data.get("widen"):
        # One click widens from the agent's region to the whole network…
        data["region"] = ""
    elif data.get("narrow"):
        # …and one click brings it back.
        data["region"] = str(home_region_id(request.user) or "")
    form = forms.SlotFinderForm(data)
    if patient is None:
        return _respond(request, state, "finder", message="Open a patient first.", status=409)
    if not form.is_valid():
        return _respond(request, state, "finder", finder_form=form, status=400)
    state.finder = {
        k: (v.pk if hasattr(v, "pk") else v.isoformat() if hasattr(v, "isoformat") else v)
        for k, v in form.cleaned_data.items()
        if v not in (None, "")
    }
    result = _slot_search(request.user, patient, form.cleaned_data, state.reschedule_id)
    return _respond(
        request,
        state,
        "finder",
        finder_form=forms.SlotFinderForm(initial=state.finder),
        result=result,
        result_region=Region.objects.filter(pk=result.region_id or 0).first(),
        excluded_lines=(lines := _excluded_lines(result)),
        excluded_summary=_excluded_summary(lines),
    )


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
    """Engineer A's ``slot_search``: the console only presents what it returns.

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
