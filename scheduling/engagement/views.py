"""The public self-scheduling page (/book/, optionally /book/<location code>/).

One page, every step a POST: identify (name, birth date) -> one-time code -> visit type
-> options -> book. The patient being served lives only in the server-side session
(``SESSION_KEY``), for ``VERIFIED_MINUTES``; nothing identifying enters a URL. Answers
never tell whether a name and birth date matched someone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from patients.models import Patient

from ..models import Location
from ..selectors import slot_search
from ..services.errors import SchedulingError
from . import selfservice as ss
from .forms import BookForm, CodeForm, FirstVisitForm, IdentifyForm, SearchForm

SESSION_KEY = "selfservice"
VERIFIED_MINUTES = 20
SENT = "If these details match our records, we sent a code to the phone or email we have on file."
ASKED = "Thank you. Our team will call you to book your first visit."


def _state(request: HttpRequest) -> dict[str, Any]:
    state = request.session.get(SESSION_KEY) or {}
    if state and datetime.fromisoformat(state["until"]) < timezone.now():
        return {}
    return dict(state)


def _save(request: HttpRequest, **state: Any) -> None:
    until = timezone.now() + timedelta(minutes=VERIFIED_MINUTES)
    request.session[SESSION_KEY] = {**state, "until": until.isoformat()}


def _address(request: HttpRequest) -> str:
    return str(request.META.get("REMOTE_ADDR", ""))


@login_not_required
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest, location_code: str | None = None) -> HttpResponse:
    location = get_object_or_404(Location, code=location_code) if location_code else None
    state = _state(request)
    step = request.POST.get("step", "") if request.method == "POST" else ""
    ctx: dict[str, Any] = {"location": location, "error": "", "notice": ""}
    status = 200
    if step == "restart":
        request.session.pop(SESSION_KEY, None)
        state = {}
    elif step in ("identify", "verify") and not ss.client_allowed(
        address=_address(request), action=step
    ):
        ctx["error"], status = ss.ERR_SLOWDOWN, 429
    elif step == "identify":
        form = IdentifyForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            patient = ss.patient_identify(
                first_name=data["first_name"],
                last_name=data["last_name"],
                date_of_birth=data["date_of_birth"],
            )
            if patient is not None and ss.code_issue(patient=patient, channel=data["channel"]):
                ss.selfservice_audit(patient=patient, action="code sent")
            # The same answer whether or not anyone matched.
            _save(request, pending=patient.pk if patient else 0)
            state, ctx["notice"] = _state(request), SENT
        else:
            ctx["identify_form"], status = form, 400
    elif step == "verify" and "pending" in state:
        code_form = CodeForm(request.POST)
        try:
            verified = (
                code_form.is_valid()
                and bool(state["pending"])
                and ss.code_verify(patient_id=state["pending"], code=code_form.cleaned_data["code"])
            )
        except ss.SelfServiceError as exc:
            verified, ctx["error"] = False, exc.message
        if verified:
            request.session.cycle_key()
            _save(request, verified=state["pending"])
            state = _state(request)
        else:
            ctx["error"], status = ctx["error"] or ss.ERR_CODE, 400
    elif step == "new":
        new_form = FirstVisitForm(request.POST)
        if new_form.is_valid():
            ss.first_visit_request(**new_form.cleaned_data)
            ctx["notice"] = ASKED
        else:
            ctx["new_form"], status = new_form, 400
    patient = Patient.objects.filter(pk=state.get("verified") or 0).first()
    if patient is not None:
        status = _verified_step(request, step, patient, location, ctx) or status
    ctx["stage"] = "verified" if patient else ("code" if "pending" in state else "identify")
    ctx.setdefault("identify_form", IdentifyForm())
    ctx.setdefault("code_form", CodeForm())
    ctx.setdefault("new_form", FirstVisitForm())
    ctx.setdefault("search_form", SearchForm())
    return render(request, "scheduling/book.html", ctx, status=status)


def _verified_step(
    request: HttpRequest,
    step: str,
    patient: Patient,
    location: Location | None,
    ctx: dict[str, Any],
) -> int:
    ctx["first_name"] = patient.first_name
    ss.selfservice_audit(patient=patient, action=step or "viewed")
    if step == "search":
        form = SearchForm(request.POST)
        if not form.is_valid():
            ctx["search_form"] = form
            return 400
        visit = form.cleaned_data["appointment_type"]
        result = slot_search(
            patient=patient,
            appointment_type=visit,
            location=location,
            home_region_only=False,
            limit=8,
        )
        ctx["search_form"], ctx["visit"], ctx["options"] = form, visit, result.options
        return 200
    if step == "book":
        form = BookForm(request.POST)
        if not form.is_valid():
            return 400
        try:
            ctx["booked"] = ss.selfservice_book(
                patient=patient,
                slot_id=form.cleaned_data["slot_id"],
                appointment_type=form.cleaned_data["appointment_type"],
            )
        except (SchedulingError, ss.SelfServiceError) as exc:
            ctx["error"] = getattr(exc, "message", str(exc))
            return 409
        request.session.pop(SESSION_KEY, None)
    return 200
