"""The schedule-changes page for ops and admins: enter time off, a closure or a template
edit, and work the rebooking worklist those changes produce. One page, one partial
(``body``): every action answers with the page's body redrawn, forms keeping their
errors. Thin: forms check input, services in ``apply`` and ``rebook`` write."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from config.audit import audit_access_by_id
from config.htmx import HtmxHttpRequest, render_page
from config.inputs import parse_id
from config.permissions import MANAGE_SCHEDULE
from patients.models import Patient

from ..models import Provider, RebookingItem, Slot
from ..services.errors import SchedulingError
from . import apply, rebook
from .forms import ClosureForm, TemplateEndForm, TemplateForm, TimeOffForm
from .suggest import rebooking_worklist, worklist_items

TEMPLATE = "scheduling/changes.html"
FORMS: dict[str, type[forms.Form]] = {
    "time_off_form": TimeOffForm,
    "closure_form": ClosureForm,
    "template_form": TemplateForm,
    "template_end_form": TemplateEndForm,
}
NOTHING_SELECTED = "Select at least one row."
ROW_GONE = "That worklist row no longer exists."
SLOT_GONE = "That start is no longer free; pick another."

View = Callable[..., HttpResponse]


class OpsRequest(HtmxHttpRequest):
    """What the views see after the middleware and ``ops_view``: a logged-in user."""

    user: User


def ops_view(view: View) -> View:
    """Login (middleware) plus the schedule permission (ops managers, admins): agents and
    everyone else get a 403."""
    return permission_required(MANAGE_SCHEDULE, raise_exception=True)(view)


def _page(
    request: OpsRequest,
    *,
    message: str = "",
    error: str = "",
    status: int = 200,
    bound: dict[str, forms.Form] | None = None,
) -> HttpResponse:
    """The page (or its body for htmx) with the worklist read fresh. Patient names are on
    it, so each patient listed is an audited access."""
    now = timezone.now()
    rows = rebooking_worklist(now=now)
    shown = sorted({row.item.appointment.patient_id for row in rows})
    if shown:
        audit_access_by_id(
            actor=request.user,
            model=Patient,
            pks=shown,
            additional_data={"surface": "rebooking worklist"},
        )
    context: dict[str, Any] = {name: form() for name, form in FORMS.items()}
    # The template pickers list one provider's templates once one is chosen (a large
    # group has hundreds); the provider comes from the filter or the form just sent.
    provider_id = parse_id(request.GET.get("provider", "") or request.POST.get("provider", ""))
    if provider_id:
        for name in ("template_form", "template_end_form"):
            field = context[name].fields["template"]
            field.queryset = field.queryset.filter(provider_id=provider_id)
            if name == "template_form":
                context[name].initial["provider"] = provider_id
    context.update(bound or {})
    context.update(
        rows=rows,
        open_count=sum(1 for r in rows if r.item.status in rebook.ACTIVE),
        message=message,
        error=error,
        now=now,
        providers=Provider.objects.filter(active=True).order_by("last_name", "first_name"),
        provider_id=provider_id,
    )
    return render_page(request, TEMPLATE, context, partial="body", status=status)


def _done(change: apply.ScheduleChange, what: str) -> str:
    hit = len(change.items)
    return (
        f"{what}: {change.created} slots added, {change.removed} removed, "
        f"{change.holds_released} holds released, {hit} booked visit{'s' if hit != 1 else ''} "
        "to rebook."
    )


def _refused(
    request: OpsRequest, form: forms.Form, name: str, exc: SchedulingError
) -> HttpResponse:
    for detail in exc.details or [exc.message]:
        form.add_error(None, detail)
    return _page(request, status=exc.status_code, bound={name: form})


@require_GET
@ops_view
def changes(request: OpsRequest) -> HttpResponse:
    return _page(request)


@require_POST
@ops_view
def time_off(request: OpsRequest) -> HttpResponse:
    form = TimeOffForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, bound={"time_off_form": form})
    starts_at, ends_at = form.span()
    try:
        change = apply.time_off_add(
            provider=form.cleaned_data["provider"],
            starts_at=starts_at,
            ends_at=ends_at,
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
    except SchedulingError as exc:
        return _refused(request, form, "time_off_form", exc)
    return _page(request, message=_done(change, "Time off entered"))


@require_POST
@ops_view
def closure(request: OpsRequest) -> HttpResponse:
    form = ClosureForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, bound={"closure_form": form})
    try:
        change = apply.location_closure_add(
            location=form.cleaned_data["location"],
            day=form.cleaned_data["day"],
            reason=form.cleaned_data["reason"],
            by=request.user,
        )
    except SchedulingError as exc:
        return _refused(request, form, "closure_form", exc)
    return _page(request, message=_done(change, "Closure entered"))


@require_POST
@ops_view
def template(request: OpsRequest) -> HttpResponse:
    form = TemplateForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, bound={"template_form": form})
    try:
        change = apply.schedule_template_save(
            provider=form.cleaned_data["provider"],
            template=form.cleaned_data["template"],
            by=request.user,
            **form.fields_to_save(),
        )
    except SchedulingError as exc:
        return _refused(request, form, "template_form", exc)
    return _page(request, message=_done(change, "Template saved"))


@require_POST
@ops_view
def template_end(request: OpsRequest) -> HttpResponse:
    form = TemplateEndForm(request.POST)
    if not form.is_valid():
        return _page(request, status=400, bound={"template_end_form": form})
    try:
        change = apply.schedule_template_end(
            template=form.cleaned_data["template"],
            last_day=form.cleaned_data["last_day"],
            by=request.user,
        )
    except SchedulingError as exc:
        return _refused(request, form, "template_end_form", exc)
    return _page(request, message=_done(change, "Template ended"))


def _item(request: OpsRequest) -> RebookingItem | None:
    pk = parse_id(request.POST.get("item_id", ""))
    return worklist_items(status=None).filter(pk=pk).first() if pk else None


def _selected(request: OpsRequest) -> list[RebookingItem]:
    ids = [pk for raw in request.POST.getlist("selected") if (pk := parse_id(raw))]
    return list(worklist_items(status=None).filter(pk__in=ids).order_by("appointment__start"))


@require_POST
@ops_view
def rebook_one(request: OpsRequest) -> HttpResponse:
    """Rebook one row to the start picked in its own list (a suggestion)."""
    item = _item(request)
    if item is None:
        return _page(request, error=ROW_GONE, status=404)
    slot_id = parse_id(request.POST.get(f"slot_{item.pk}", ""))
    slot = Slot.objects.filter(pk=slot_id).first() if slot_id else None
    if slot is None:
        return _page(request, error=SLOT_GONE, status=409)
    try:
        rebook.rebooking_item_rebook(item=item, slot=slot, by=request.user)
    except SchedulingError as exc:
        return _page(request, error=" ".join([exc.message, *exc.details]), status=exc.status_code)
    return _page(request, message="Rebooked.")


@require_POST
@ops_view
def rebook_all(request: OpsRequest) -> HttpResponse:
    """Every row still to do, to its first suggestion still free (the selection is for
    notifying; a row is rebooked to another start with its own button)."""
    items = list(
        worklist_items(status=None)
        .filter(status__in=rebook.ACTIVE)
        .order_by("appointment__start", "pk")
    )
    result = rebook.rebooking_items_rebook_first(items=items, by=request.user)
    left = f"; {result.left} could not be moved and stay on the list" if result.left else ""
    return _page(request, message=f"Rebooked {result.done}{left}.")


@require_POST
@ops_view
def notify(request: OpsRequest) -> HttpResponse:
    items = _selected(request)
    if not items:
        return _page(request, error=NOTHING_SELECTED, status=400)
    result = rebook.rebooking_items_notify(items=items, by=request.user)
    left = (
        f"; {result.left} not sent (already told, or no text or email consent: call them)"
        if result.left
        else ""
    )
    return _page(
        request, message=f"Queued {result.done} message{'s' if result.done != 1 else ''}{left}."
    )


@require_POST
@ops_view
def refresh(request: OpsRequest) -> HttpResponse:
    item = _item(request)
    if item is None:
        return _page(request, error=ROW_GONE, status=404)
    try:
        item = rebook.rebooking_item_refresh(item=item, by=request.user)
    except SchedulingError as exc:
        return _page(request, error=exc.message, status=exc.status_code)
    found = len(item.suggestions)
    return _page(request, message=f"{found} alternative{'s' if found != 1 else ''} found.")


@require_POST
@ops_view
def cancel(request: OpsRequest) -> HttpResponse:
    item = _item(request)
    if item is None:
        return _page(request, error=ROW_GONE, status=404)
    try:
        rebook.rebooking_item_cancel(item=item, by=request.user)
    except SchedulingError as exc:
        return _page(request, error=exc.message, status=exc.status_code)
    return _page(request, message="Cancelled; notify the patient from the list.")
