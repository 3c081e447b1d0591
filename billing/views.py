"""Billing pages: the biller's work queue and claim fixes, AR aging, denials, unmatched
835 lines, eligibility runs, and the revenue view of one appointment. Thin: reads come
from selectors, writes from services."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config.audit import audit_access_rows
from config.inputs import parse_id
from config.permissions import VIEW_ELIGIBILITY_BATCH_RUN, WORK_CLAIMS
from patients.models import Patient
from scheduling.models import Appointment

from . import selectors
from .models import Claim, RemittanceClaim
from .remittance import claim_balance, remittance_claim_match
from .scrubber.rules import HIGH_DOLLAR_UNDOCUMENTED
from .services import (
    ChargeFix,
    DocumentationError,
    claim_documentation_attest,
    claim_fix,
    claim_resubmit,
)

WORK = WORK_CLAIMS
ELIGIBILITY = VIEW_ELIGIBILITY_BATCH_RUN


@permission_required(WORK, raise_exception=True)
def queue(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", "held")
    if tab not in selectors.QUEUE_STATUSES:
        tab = "held"
    claims, tabs = selectors.claim_queue(tab=tab)
    _audit_claims(request, claims)
    return render(request, "billing/queue.html", {"claims": claims, "tabs": tabs, "tab": tab})


def _audit_claims(request: HttpRequest, claims: list[Claim]) -> None:
    """Claim numbers and dates of service tie care to a person: each claim listed is an
    access to its patient's record."""
    audit_access_rows(
        actor=request.user,
        model=Patient,
        shown=[(c.encounter.patient_id, {"claim": c.pk}) for c in claims],
    )


def _ints(raw: str) -> tuple[int, ...]:
    return tuple(n for p in raw.replace(" ", "").split(",") if (n := parse_id(p)) is not None)


@permission_required(WORK, raise_exception=True)
@require_http_methods(["GET", "POST"])
def claim_detail(request: HttpRequest, claim_id: int) -> HttpResponse:
    get_object_or_404(Claim, pk=claim_id)
    if request.method == "POST":
        claim = Claim.objects.get(pk=claim_id)
        if request.POST.get("action") == "attest":
            try:
                claim_documentation_attest(
                    claim=claim, by=request.user, reason=request.POST.get("attestation", "")
                )
            except DocumentationError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "Attestation recorded; the claim was scrubbed again.")
            return HttpResponseRedirect(reverse("billing:claim", args=[claim_id]))
        if request.POST.get("action") == "resubmit" and request.POST.get("confirmed") != "yes":
            # Resubmitting unchanged is asked for, not done on one click.
            return HttpResponseRedirect(
                reverse("billing:claim", args=[claim_id]) + "?confirm=resubmit"
            )
        try:
            if request.POST.get("action") == "fix":
                lines = []
                for charge in claim.encounter.charges.all():
                    prefix = f"line{charge.line_number}_"
                    lines.append(
                        ChargeFix(
                            line_number=charge.line_number,
                            procedure_code=request.POST.get(prefix + "code", charge.procedure_code),
                            modifiers=tuple(request.POST.get(prefix + "modifiers", "").split(",")),
                            units=int(request.POST.get(prefix + "units", charge.units) or 0),
                            diagnosis_pointers=_ints(request.POST.get(prefix + "pointers", "")),
                            service_date=date.fromisoformat(
                                request.POST.get(prefix + "service_date", "")
                                or charge.service_date.isoformat()
                            ),
                        )
                    )
                claim_fix(
                    claim=claim,
                    diagnoses=request.POST.getlist("diagnosis"),
                    lines=lines,
                    documentation_ref=request.POST.get("documentation_ref", ""),
                    note=f"Corrected by {request.user.get_username()}",
                )
            claim = claim_resubmit(
                claim=claim, note=f"Resubmitted by {request.user.get_username()}"
            )
        except (DocumentationError, ValueError) as exc:
            messages.error(
                request,
                str(exc)
                if isinstance(exc, DocumentationError)
                else "Units and dates must be valid.",
            )
        else:
            if claim.status == Claim.Status.READY:
                messages.success(
                    request,
                    f"Clean: the claim joins the next 837P batch{_batch_time(claim)}.",
                )
            else:
                messages.warning(request, "The scrubber still holds this claim; see the findings.")
        return HttpResponseRedirect(reverse("billing:claim", args=[claim_id]))
    claim = selectors.claim_detail(claim_id=claim_id)
    _audit_claims(request, [claim])
    confirm_resubmit = request.GET.get("confirm") == "resubmit"
    return render(
        request,
        "billing/claim.html",
        {
            "claim": claim,
            "encounter": claim.encounter,
            "open_findings": [f for f in claim.findings.all() if not f.resolved],
            "needs_attestation": any(
                f.code == HIGH_DOLLAR_UNDOCUMENTED for f in claim.findings.all() if not f.resolved
            ),
            "attestations": claim.documentation_attestations.select_related("attested_by"),
            "balance": claim_balance(claim),
            "confirm_resubmit": confirm_resubmit,
            "next_batch": _batch_time(claim),
            "editable": claim.status
            in {
                Claim.Status.DRAFT,
                Claim.Status.HELD,
                Claim.Status.READY,
                Claim.Status.REJECTED,
                Claim.Status.DENIED,
            },
        },
    )


def _batch_time(claim: Claim) -> str:
    """ ", at 9:05 AM MST on Sun Dec 6" in the claim's location zone, or "" if unknown."""
    at = selectors.next_claim_batch_at()
    if at is None:
        return ""
    local = at.astimezone(ZoneInfo(claim.encounter.location.time_zone))
    return f", at {local:%-I:%M %p %Z} on {local:%a %b} {local.day}"


@permission_required(WORK, raise_exception=True)
def appointment(request: HttpRequest, appointment_id: int) -> HttpResponse:
    get_object_or_404(Appointment, pk=appointment_id)
    view = selectors.appointment_revenue(appointment_id=appointment_id)
    encounter = getattr(view.appointment, "encounter", None)
    audit_access_rows(
        actor=request.user,
        model=Patient,
        shown=[(view.appointment.patient_id, {"appointment": appointment_id})],
    )
    return render(
        request,
        "billing/appointment.html",
        {"view": view, "appt": view.appointment, "encounter": encounter},
    )


@permission_required(WORK, raise_exception=True)
def ar_aging(request: HttpRequest) -> HttpResponse:
    rows, total = selectors.ar_aging()
    labels = list(total.buckets)
    return render(request, "billing/ar.html", {"rows": rows, "total": total, "labels": labels})


@permission_required(WORK, raise_exception=True)
def denials(request: HttpRequest) -> HttpResponse:
    rows, claims = selectors.denial_report()
    _audit_claims(request, claims)
    return render(request, "billing/denials.html", {"rows": rows, "claims": claims})


@permission_required(WORK, raise_exception=True)
def unmatched(request: HttpRequest) -> HttpResponse:
    lines = selectors.unmatched_remittance_lines()[:200]
    return render(request, "billing/unmatched.html", {"lines": lines})


@permission_required(WORK, raise_exception=True)
@require_POST
def unmatched_match(request: HttpRequest, line_id: int) -> HttpResponse:
    get_object_or_404(RemittanceClaim, pk=line_id)
    try:
        rc = remittance_claim_match(
            remittance_claim_id=line_id, claim_number=request.POST.get("claim_number", "")
        )
    except ValueError as exc:
        messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("billing:unmatched"))
    messages.success(request, "Matched and posted.")
    return HttpResponseRedirect(reverse("billing:claim", args=[rc.claim_id]))


@permission_required(ELIGIBILITY, raise_exception=True)
def eligibility(request: HttpRequest) -> HttpResponse:
    runs, counts = selectors.eligibility_overview()
    return render(request, "billing/eligibility.html", {"runs": runs, "counts": counts})
