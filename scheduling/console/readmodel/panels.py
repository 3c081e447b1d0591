"""The console's panels: the template context each panel of the page renders from.

Built from the session's console state on every response, so a full page load and an
htmx fragment show the same thing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from config.compiled import Compiled, stand_in_id, stand_in_moment
from config.htmx import vary_on_htmx
from patients.models import Patient
from scheduling.models import AgentProfile, Appointment, AppointmentType, Call, Hold
from scheduling.selectors import agent_recent_abandoned_call, waitlist_matches_for_slots
from scheduling.selectors.hubs import agent_presence
from scheduling.services.series import SeriesPlan

from .. import forms, forms_series
from ..requests import IN_SCOPE, AgentRequest, read_once
from ..shortcuts import shortcuts_from
from ..state import ConsoleState
from ..widgets import one_version_per_drawing
from .patient import PatientContext, patient_context, patient_search_again, patient_time_zone

TEMPLATE = "console/console.html"


def cancel_reason_options() -> SafeString:
    """The cancel reasons' ``<option>`` list."""
    return format_html_join("", '<option value="{}">{}</option>', forms.CANCEL_REASONS)


ABANDONED_NOTICE = timedelta(hours=12)
PANELS = ("flash", "callbar", "search", "register", "context", "finder", "hold")


class Panels:
    """Builds the template context for the panels a response renders."""

    def __init__(self, request: AgentRequest, state: ConsoleState) -> None:
        self.request = request
        self.state = state
        self.extra: dict[str, Any] = {}

    def context_for(self, names: tuple[str, ...] | list[str]) -> dict[str, Any]:
        request, state = self.request, self.state
        ctx: dict[str, Any] = {"state": state, **self.extra}
        call = self._call()
        ctx["call"] = call
        # Each form only for the panels that show it.
        if "callbar" in names:
            if call is None and "abandoned_call" not in ctx:
                # A call the beat closed as abandoned is news to its agent: said once a day.
                ctx["abandoned_call"] = agent_recent_abandoned_call(
                    user=request.user, since=timezone.now() - ABANDONED_NOTICE
                )
            ctx.setdefault("call_form", forms.CallStartForm())
            # Prefilled from what the call did (strongest outcome) and the reason given
            # at start.
            ctx.setdefault(
                "wrapup_form",
                forms.WrapUpForm(initial=state.wrapup_initial(call.reason if call else "")),
            )
        if "search" in names:
            ctx.setdefault(
                "search_form",
                forms.SearchForm(initial={"query": call.caller_phone if call else ""}),
            )
        if "register" in names:
            # A caller not on file is usually registered with the number they rang from.
            ctx.setdefault(
                "register_form",
                forms.RegisterForm(initial={"phone": call.caller_phone if call else ""}),
            )
        if "search" in names and "search_results" not in ctx and state.search:
            ctx["search_results"] = patient_search_again(remembered=state.search, user=request.user)
        if "context" in names and state.patient_id and "pc" not in ctx:
            try:
                on_call = call is not None and call.ended_at is None
                reads = read_once(request)
                ctx["pc"] = patient_context(
                    patient_id=state.patient_id,
                    user=request.user,
                    audit=state.access_to_audit(on_call=on_call),
                    known=reads.get((Patient, state.patient_id)),
                    known_in_scope=reads.get(IN_SCOPE, set()) >= {state.patient_id},
                )
            except Patient.DoesNotExist:
                state.patient_id = None
        if "context" in names:
            ctx.setdefault("waitlist_form", forms.WaitlistForm(prefix="wl"))
            ctx.setdefault("referral_form", forms.ReferralForm(prefix="rf"))
        if "context" in names or "hold" in names:
            # Written once: the context repeats them for every upcoming visit.
            ctx["cancel_reasons"] = cancel_reason_options()
        if "hold" in names:
            ctx.setdefault("book_form", forms.BookForm())
        if "finder" in names and state.patient_id:  # without a patient it shows no form
            ctx.setdefault("finder_form", self._finder_form())
        if "hold" in names or "finder" in names:
            self._hold_context(ctx, series_forms="hold" in names)
        if "finder" in names and state.patient_id and "patient_zone" not in ctx:
            ctx["patient_zone"] = self._patient_zone(state.patient_id, ctx.get("pc"))
        profile = self._profile()
        ctx["home_region"] = profile.home_region if profile else None
        ctx["shortcuts"] = shortcuts_from(profile.console_shortcuts if profile else None)
        if "callbar" in names:
            ctx["presence"] = agent_presence(user=request.user)
            self._name_the_caller(call, ctx.get("pc"))
        return ctx

    def _call(self) -> Call | None:
        """The session's call (ended or not), as the view read it if it did."""
        state = self.state
        if not state.call_id:
            return None
        known: Call | None = read_once(self.request).get((Call, state.call_id))
        if known is not None:
            return known
        return _agent_call.first(call_id=state.call_id, agent_id=self.request.user.pk)

    def _name_the_caller(self, call: Call | None, pc: PatientContext | None) -> None:
        """The call bar names the call's patient: from the row this response has read
        already (the context's, the view's) rather than decrypting it again."""
        if call is None or call.patient_id is None or Call.patient.is_cached(call):
            return
        if pc is not None and pc.patient.pk == call.patient_id:
            call.patient = pc.patient
        elif (known := read_once(self.request).get((Patient, call.patient_id))) is not None:
            call.patient = known

    def _patient_zone(self, patient_id: int, pc: PatientContext | None) -> str | None:
        if pc is not None and pc.patient.pk == patient_id:
            return patient_time_zone(pc.patient)
        known: Patient | None = read_once(self.request).get((Patient, patient_id))
        if known is not None:  # the view's row, its home location loaded with it
            return patient_time_zone(known)
        # Only what the zone needs: the rest of the row is PHI, decrypted for nothing.
        patient = Patient.objects.filter(pk=patient_id).only("home_location_id", "zip_code").first()
        return patient_time_zone(patient) if patient else None

    def _profile(self) -> AgentProfile | None:
        if not hasattr(self, "_agent_profile"):
            self._agent_profile = _profile.first(user_id=self.request.user.pk)
        return self._agent_profile

    def _finder_form(self) -> forms.SlotFinderForm:
        """The finder starts from the last search, else from the agent's home region."""
        state = self.state
        if state.finder:
            return forms.SlotFinderForm(initial=state.finder)
        initial: dict[str, Any] = {}
        profile = self._profile()
        if profile and profile.home_region_id:
            initial["region"] = profile.home_region_id
        if state.reschedule_id:
            appt = Appointment.objects.filter(pk=state.reschedule_id).first()
            if appt:
                initial["appointment_type"] = appt.appointment_type_id
        return forms.SlotFinderForm(initial=initial)

    def _hold_context(self, ctx: dict[str, Any], *, series_forms: bool) -> None:
        state, now = self.state, timezone.now()
        hold = None
        if state.hold_id:
            hold = _live_hold.first(hold_id=state.hold_id, user_id=self.request.user.pk, now=now)
            if hold is None:
                state.hold_id = None
        ctx["hold"] = hold
        if hold is not None:
            ctx["hold_seconds"] = int((hold.expires_at - now).total_seconds())
            # Same m:ss the script ticks, so the first paint does not read "179s".
            ctx["hold_clock"] = "{}:{:02d}".format(*divmod(max(0, ctx["hold_seconds"]), 60))
            ctx["held_type"] = (
                _visit_type.first(type_id=state.appointment_type_id)
                if state.appointment_type_id
                else None
            )
        ctx["rescheduling"] = (
            Appointment.objects.select_related("location", "appointment_type")
            .filter(pk=state.reschedule_id, status=Appointment.Status.BOOKED)
            .first()
            if state.reschedule_id
            else None
        )
        if state.series:
            ctx["series_plan"] = SeriesPlan.from_dict(state.series)
        elif hold is not None and not state.reschedule_id and series_forms:
            ctx.setdefault("series_form", forms_series.SeriesForm(prefix="series"))
        if series_forms:
            ctx.setdefault("series_book_form", forms_series.SeriesBookForm(prefix="series"))
        if state.freed_slot_ids and "waitlist_matches" not in ctx:
            ctx["waitlist_matches"] = waitlist_matches_for_slots(slot_ids=state.freed_slot_ids)

    def render(self, *names: str, status: int = 200) -> HttpResponse:
        ordered = list(names) + (["flash"] if "flash" not in names else [])
        ctx = self.context_for(ordered)
        self.state.save(self.request.session)
        html = []
        with one_version_per_drawing():
            for index, name in enumerate(ordered):
                ctx["oob"] = index > 0
                html.append(render_to_string(f"{TEMPLATE}#{name}", ctx, self.request))
        return vary_on_htmx(HttpResponse("".join(html), status=status))


# Read on most console responses: compiled once per connection (config.compiled). The
# same querysets as written out, in the order .first() gives them.
_agent_call: Compiled[Call] = Compiled(
    lambda call_id, agent_id: Call.objects.filter(pk=call_id, agent_id=agent_id).order_by("pk")[:1],
    call_id=stand_in_id(),
    agent_id=stand_in_id(),
)
_profile: Compiled[AgentProfile] = Compiled(
    lambda user_id: (
        AgentProfile.objects.filter(user_id=user_id)
        .select_related("home_region")
        .order_by("pk")[:1]
    ),
    user_id=stand_in_id(),
)
_live_hold: Compiled[Hold] = Compiled(
    lambda hold_id, user_id, now: (
        Hold.objects.select_related("slot__location", "slot__provider")
        .filter(
            pk=hold_id,
            held_by_id=user_id,
            released_at__isnull=True,
            consumed_at__isnull=True,
            expires_at__gt=now,
        )
        .order_by("pk")[:1]
    ),
    hold_id=stand_in_id(),
    user_id=stand_in_id(),
    now=stand_in_moment(),
)
_visit_type: Compiled[AppointmentType] = Compiled(
    lambda type_id: AppointmentType.objects.filter(pk=type_id).order_by("pk")[:1],
    type_id=stand_in_id(),
)
