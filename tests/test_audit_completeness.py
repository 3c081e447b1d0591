"""Every URL that can show PHI writes an audit entry.

The test walks the whole URL configuration. Each pattern must be classified: a request
that shows PHI (made here, as a user of the right role, against a seeded patient, and
failing when no entry about that patient is written), a page that shows no PHI (with the
reason), or a console action that redraws the panel of a patient whose opening was the
audited access and whose changes auditlog records. A new view that nobody classified
fails the walk, and so does a PHI view that writes no entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from billing.models import Claim
from billing.services import encounter_document
from config.admin_site import is_phi_model
from config.compliance.selectors import disclosures
from config.models import AuditEntry
from integrations.models import ApiToken, SandboxSms
from scheduling.models import AgentProfile, Call, Callback, RebookingItem
from tests import factories as f
from tests.billing import builders as b
from tests.mfa import VerifiedClient

pytestmark = pytest.mark.django_db

NOT_PHI = {
    "home": "links to the pages the role may open",
    "healthz": "liveness",
    "metrics": "counts and latencies labelled by view and connector name",
    "login": "the sign-in form",
    "logout": "signs out",
    "kpi:overview": "aggregates; names appear only in drill-downs",
    "kpi:section": "aggregates; names appear only in drill-downs",
    "billing:ar": "balances by payer and age bucket",
    "billing:unmatched": "835 lines that match no claim, hence no patient",
    "billing:eligibility": "batch runs and counts",
    "integrations:health": "counts and connector states",
    "fhir:metadata": "the CapabilityStatement",
    "fhir:unknown": "an OperationOutcome for an address the server does not have",
    "fhir:operation": "$find offers slots; $hold/$book changes are logged by auditlog",
    "api-me": "the caller's own user",
    "api-schema": "the OpenAPI document",
    "api-slot-search": "slots, locations and providers",
    "favicon": "the site icon",
    "mfa-verify": "the second sign-in step",
    "mfa-setup": "the user's own authenticator enrolment",
    "console:shortcuts": "the agent's own keyboard settings",
    "kpi:wallboard": "counts and times per hub; no caller appears",
    "integrations:telephony_events": "platform webhook: stores caller numbers, shows none",
    "integrations:sms_webhook": "takes the SMS provider's signed calls; answers empty TwiML",
    "integrations:sms_sandbox_api": "the sandbox provider's own API, for the hub's credentials",
    "integrations:sms_sandbox_reply": "stores a typed answer and redirects to the sandbox page",
    # The self-scheduling page audits each step about the verified patient itself
    # (scheduling.engagement.selfservice.selfservice_audit, tests/engagement).
    "book:group": "public; a verified patient's own steps are audited as theirs",
    "book:location": "public; a verified patient's own steps are audited as theirs",
}
# Console and API actions that change a booking, hold or call: their changes are
# auditlog entries, and the patient panel they redraw is the one already audited once
# per opening (``ConsoleState.access_to_audit``).
WRITES_AND_REDRAWS = {
    "console:home",
    "console:call_start",
    "console:call_wrap_up",
    "console:slots",
    "console:hold",
    "console:release",
    "console:book",
    "console:overbook",
    "console:reschedule_start",
    "console:reschedule",
    "console:cancel",
    "console:waitlist_add",
    # The series flow holds, books and cancels through the same services (auditlog rows)
    # and redraws the hold panel of the patient already audited at opening.
    "console:series_plan",
    "console:series_decide",
    "console:series_adjust",
    "console:series_book",
    "console:series_abandon",
    "console:series_cancel",
    "console:series_move",
    "billing:match",
    "api-hold-create",
    "api-hold-release",
    "api-appointment-book",
    "api-appointment-overbook",
    "api-appointment-reschedule",
    "api-appointment-cancel",
    "api-waitlist-add",
    "api-call-start",
    "api-call-wrap-up",
    "console:waitlist_offer",
    "console:callback_start",
    "console:referral_open",
    "console:referral_add",
    "api-patient-widen",
    # The screen pop opens the caller's record through the context panel, which audits
    # the opening (tests/console/test_screen_pop.py asserts the entry).
    "console:screen_pop",
    "console:presence",
    # Schedule changes and worklist actions: their writes are auditlog entries, and the
    # worklist they redraw audits each patient listed, as its page does ("schedule:changes").
    "schedule:time_off",
    "schedule:closure",
    "schedule:template",
    "schedule:template_end",
    "schedule:rebook",
    "schedule:rebook_all",
    "schedule:notify",
    "schedule:refresh",
    "schedule:cancel",
}
ADMIN_NOT_PHI_VIEWS = {
    "index",
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "autocomplete",
    "jsi18n",
    "view_on_site",
    "app_list",
}


def _walk(resolver: URLResolver, namespace: str = "") -> list[str]:
    names = []
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names += _walk(pattern, inner)
        elif isinstance(pattern, URLPattern):
            # Unnamed admin patterns only redirect to a named view of the same model.
            names.append(f"{namespace}{pattern.name or f'(unnamed) {pattern.pattern}'}")
    return names


@dataclass
class World:
    patient: Any
    visit: Any
    claim: Claim
    call: Call
    users: dict[str, User] = field(default_factory=dict)


@pytest.fixture
def world(agent, biller, admin_user, compliance_officer) -> World:
    AgentProfile.objects.create(user=agent, home_region=None)
    visit = b.visit(start=timezone.now() - timedelta(days=2))
    encounter = encounter_document(doc=b.documentation(visit, diagnoses=("Z01.20", "K02")))
    claim = encounter.claims.get()
    call = Call.objects.create(
        agent=agent, patient=visit.patient, caller_phone="3035550100", started_at=timezone.now()
    )
    # A callback owed to the patient, so the agent's worklist shows them.
    Callback.objects.create(
        call=call,
        patient=visit.patient,
        assigned_to=agent,
        due_at=timezone.now() + timedelta(hours=1),
        created_at=timezone.now(),
    )
    users = {
        "agent": agent,
        "biller": biller,
        "admin": admin_user,
        "compliance": compliance_officer,
    }
    return World(visit.patient, visit, claim, call, users)


def _token(user: User) -> dict[str, str]:
    _, key = ApiToken.issue(user)
    return {"Authorization": f"Bearer {key}"}


def _phi_requests(w: World) -> dict[str, tuple[str, str, str, dict]]:
    """view name -> (role, method, path, data)."""
    p = w.patient
    return {
        "console:search": ("agent", "post", "/console/patients/search/", {"query": p.phone}),
        "console:patient_open": ("agent", "post", "/console/patients/open/", {"patient_id": p.pk}),
        "console:register": (
            "agent",
            "post",
            "/console/patients/register/",
            {
                "first_name": "Quinn",
                "last_name": "Newcomer",
                "date_of_birth": "1990-02-03",
                "sex": "F",
                "phone": "3035550177",
                "zip_code": "80202",
                "preferred_language": "en",
                "confirmed_not_duplicate": "on",
            },
        ),
        "kpi:drill": ("admin", "get", "/kpi/drill/calls/", {}),
        "kpi:drill csv": ("admin", "get", "/kpi/drill/calls/", {"format": "csv"}),
        "billing:queue": ("biller", "get", "/billing/", {}),
        "billing:claim": ("biller", "get", f"/billing/claims/{w.claim.pk}/", {}),
        "billing:appointment": (
            "biller",
            "get",
            f"/billing/appointments/{w.visit.appointment.pk}/",
            {},
        ),
        "billing:denials": ("biller", "get", "/billing/denials/", {}),
        "fhir:read": ("agent", "fhir-get", f"/fhir/r4/Patient/{p.pk}", {}),
        "fhir:type": ("agent", "fhir-get", "/fhir/r4/Patient", {"family": p.last_name}),
        "fhir:search": ("agent", "fhir-post", "/fhir/r4/Patient/_search", {"family": p.last_name}),
        "api-patients": (
            "agent",
            "api-post",
            "/api/v1/patients/",
            {
                "first_name": "Rowan",
                "last_name": "Apinew",
                "date_of_birth": "1991-03-04",
                "phone": "3035550178",
                "zip_code": "80202",
                "confirmed_not_duplicate": True,
            },
        ),
        "api-patient-search": (
            "agent",
            "api-post",
            "/api/v1/patients/search/",
            {"query": p.phone},
        ),
        "api-patient-context": ("agent", "api-get", f"/api/v1/patients/{p.pk}/context/", {}),
        "api-slot-waitlist-matches": ("agent", "api-get", "", {}),
        "console:worklist": ("agent", "get", "/console/worklist/", {}),
        "compliance:disclosures": ("compliance", "post", "/compliance/", {"patient_id": p.pk}),
        "compliance:export": ("compliance", "post", "/compliance/export/", {"patient_id": p.pk}),
        "integrations:sms_sandbox": ("admin", "get", "/integrations/sms/sandbox/", {}),
        "schedule:changes": ("admin", "get", "/schedule/changes/", {}),
    }


def _request(w: World, role: str, method: str, path: str, data: dict) -> int:
    user = w.users[role]
    client = VerifiedClient()
    if method.startswith(("fhir", "api")):
        headers = _token(user)
        if method.endswith("get"):
            return client.get(path, data, headers=headers).status_code
        if method == "fhir-post":
            return client.post(path, data, headers=headers).status_code
        return client.post(
            path, json.dumps(data), content_type="application/json", headers=headers
        ).status_code
    client.force_login(user)
    # The console answers htmx requests; others get the page they belong to.
    return getattr(client, method)(path, data, headers={"HX-Request": "true"}).status_code


def test_every_url_pattern_is_classified(world):
    admin_prefix = "admin:"
    unclassified = []
    phi = _phi_requests(world)
    for name in _walk(get_resolver()):
        if name in NOT_PHI or name in WRITES_AND_REDRAWS or name in phi:
            continue
        if name.startswith(admin_prefix):
            continue  # classified by model in the admin test below
        unclassified.append(name)
    assert unclassified == [], "classify these views in tests/test_audit_completeness.py"


@pytest.mark.parametrize(
    "name",
    sorted(
        [
            "console:search",
            "console:patient_open",
            "console:register",
            "kpi:drill",
            "kpi:drill csv",
            "billing:queue",
            "billing:claim",
            "billing:appointment",
            "billing:denials",
            "fhir:read",
            "fhir:type",
            "fhir:search",
            "api-patients",
            "api-patient-search",
            "api-patient-context",
            "compliance:disclosures",
            "compliance:export",
            "console:worklist",
            "integrations:sms_sandbox",
            "schedule:changes",
        ]
    ),
)
def test_a_phi_surface_writes_an_entry_about_the_patient(world, name):
    if name == "billing:denials":
        Claim.objects.filter(pk=world.claim.pk).update(status=Claim.Status.DENIED)
    if name == "integrations:sms_sandbox":
        SandboxSms.objects.create(
            sid="SMaudit",
            account_sid="AC1",
            direction="out",
            to=f"+1{world.patient.phone}",
            from_number="+13035550000",
            body="Reminder",
            created_at=timezone.now(),
        )
    if name == "schedule:changes":
        RebookingItem.objects.create(
            appointment=world.visit.appointment,
            cause=RebookingItem.Cause.TIME_OFF,
            created_at=timezone.now(),
        )
    role, method, path, data = _phi_requests(world)[name]
    before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0

    status = _request(world, role, method, path, data)

    assert status in {200, 201}, f"{name} answered {status}"
    written = AuditEntry.objects.filter(id__gt=before)
    if name in {"console:register", "api-patients"}:
        assert written.filter(action=AuditEntry.Action.CREATE, content_type__model="patient")
        return
    about = disclosures(patient_id=world.patient.pk).filter(id__gt=before)
    assert about.exists(), f"{name} showed the patient and wrote no audit entry about them"
    assert about.exclude(actor_username="").exists()


def test_the_waitlist_matches_api_audits_every_patient_listed(world):
    from scheduling.models import Waitlist

    slot = f.slot(
        provider=world.visit.provider,
        location=world.visit.location,
        start=timezone.now() + timedelta(days=3),
    )
    Waitlist.objects.create(
        created_at=timezone.now(),
        patient=world.patient,
        appointment_type=world.visit.appointment_type,
        earliest=timezone.now().date(),
        latest=timezone.now().date() + timedelta(days=30),
    )
    before = AuditEntry.objects.count()

    response = Client().get(
        f"/api/v1/slots/{slot.pk}/waitlist-matches/", headers=_token(world.users["agent"])
    )

    assert response.status_code == 200
    if response.json():
        assert disclosures(patient_id=world.patient.pk).count() > 0
        assert AuditEntry.objects.count() > before


def _admin_names() -> list[tuple[str, type]]:
    from django.contrib import admin

    names = []
    for model in admin.site._registry:
        if is_phi_model(model):
            info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
            names.append((info, model))
    return names


def test_every_admin_view_is_a_model_view_or_named_here(world):
    model_views = {info for info, _ in _admin_names()}
    from django.contrib import admin

    every_model = {f"admin:{m._meta.app_label}_{m._meta.model_name}" for m in admin.site._registry}
    strays = [
        name
        for name in _walk(get_resolver())
        if name.startswith("admin:")
        and not name.startswith("admin:(unnamed)")
        and name.removeprefix("admin:") not in ADMIN_NOT_PHI_VIEWS
        and not any(name.startswith(f"{m}_") for m in every_model | model_views)
    ]
    assert strays == []


@pytest.mark.parametrize("view", ["changelist", "change", "history", "delete"])
def test_admin_pages_of_phi_models_write_entries(world, view):
    from django.urls import reverse

    client = Client()
    client.force_login(world.users["admin"])
    silent = []
    for info, model in _admin_names():
        row = model._default_manager.order_by("pk").first()
        if row is None:
            continue  # nothing to show, nothing to audit
        url_name = f"{info}_{view}"
        args = [] if view == "changelist" else [row.pk]
        before = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
        response = client.get(reverse(url_name, args=args))
        if response.status_code != 200:
            continue  # e.g. deleting is not allowed for this model
        if not AuditEntry.objects.filter(id__gt=before, action=AuditEntry.Action.ACCESS):
            silent.append(url_name)
    assert silent == []
