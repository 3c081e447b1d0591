"""An agent reaches the patients of their home region (home location or care history
there); anything else is a 404 until they widen, with a reason, for an open call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone

from config.models import AuditEntry as LogEntry
from config.roles import COMPLIANCE
from integrations.tokens import api_token_issue
from patients.models import PatientIdentifier
from scheduling import services
from scheduling.models import AccessWiden, Appointment
from scheduling.services import WidenNeedsCall, WidenReasonMissing
from tests import factories as f

pytestmark = pytest.mark.django_db
REASON = "Caller moved from Denver, needs her cleaning rebooked"


class Net:
    def __init__(self, agent: User) -> None:
        self.valley = f.region(name="Valley of the Sun", code="valley")
        self.front = f.region(name="Front Range", code="front")
        self.phoenix = f.location(region=self.valley, time_zone="America/Phoenix")
        self.denver = f.location(region=self.front)
        dentist = f.provider(locations=[self.phoenix, self.denver])
        cleaning = f.appointment_type()
        start = timezone.now() + timedelta(days=3)
        # Names differ in letters: name lookups fold digits away ("Doe7" is "doe").
        self.local = f.patient(home_location=self.phoenix, last_name="Alvarez")
        self.foreign = f.patient(home_location=self.denver, last_name="Whitfield")
        self.seen_here = f.patient(home_location=self.denver)  # care history in the valley
        self.charted_here = f.patient(home_location=self.denver)
        PatientIdentifier.objects.create(
            patient=self.charted_here,
            kind=PatientIdentifier.Kind.MRN,
            system="PHX-EHR",
            value="A1",
            location=self.phoenix,
        )
        self.foreign_appt = f.appointment(
            patient=self.foreign,
            slot=f.slot(provider=dentist, location=self.denver, start=start),
            appointment_type=cleaning,
        )
        f.appointment(
            patient=self.seen_here,
            slot=f.slot(provider=dentist, location=self.phoenix, start=start + timedelta(hours=2)),
            appointment_type=cleaning,
        )
        f.agent_profile(user=agent, home_region=self.valley)


@pytest.fixture
def net(agent) -> Net:
    return Net(agent)


def bearer(user: User, scopes=("read", "book", "fhir")) -> Client:
    _token, key = api_token_issue(user=user, name="test", scopes=scopes)
    return Client(headers={"Authorization": f"Bearer {key}"})


def context_status(client: Client, patient) -> int:
    return client.get(f"/api/v1/patients/{patient.pk}/context/").status_code


def test_an_agent_reads_patients_living_or_cared_for_in_their_region_only(agent, net):
    api = bearer(agent)
    assert context_status(api, net.local) == 200
    assert context_status(api, net.seen_here) == 200
    assert context_status(api, net.charted_here) == 200
    foreign = api.get(f"/api/v1/patients/{net.foreign.pk}/context/")
    missing = api.get("/api/v1/patients/999999/context/")
    # Out of region reads exactly like a patient that does not exist.
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_an_agent_cannot_cancel_another_regions_appointment_by_id(agent, net):
    response = bearer(agent).post(
        f"/api/v1/appointments/{net.foreign_appt.pk}/cancel/",
        {"reason": "patient_request"},
        content_type="application/json",
    )
    assert response.status_code == 404
    net.foreign_appt.refresh_from_db()
    assert net.foreign_appt.status == Appointment.Status.BOOKED


def test_fhir_hides_other_regions_patients_and_appointments(agent, net):
    fhir = bearer(agent)
    assert fhir.get(f"/fhir/r4/Patient/{net.local.pk}").status_code == 200
    assert fhir.get(f"/fhir/r4/Patient/{net.foreign.pk}").status_code == 404
    assert fhir.get(f"/fhir/r4/Appointment/{net.foreign_appt.pk}").status_code == 404
    found = fhir.get(f"/fhir/r4/Patient?family={net.foreign.last_name}").json()
    assert found["total"] == 0
    found = fhir.get(f"/fhir/r4/Patient?family={net.local.last_name}").json()
    assert found["total"] == 1


def test_an_agent_cannot_page_through_every_patient_over_fhir(agent, admin_user, net):
    refused = bearer(agent).get("/fhir/r4/Patient?_count=200")
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["code"] == "required"
    assert bearer(agent).post("/fhir/r4/Patient/_search", {"_count": "5"}).status_code == 400
    # An administrator (every region) may list.
    assert bearer(admin_user).get("/fhir/r4/Patient").status_code == 200


def test_break_glass_needs_an_open_call_and_a_reason(agent, net):
    with pytest.raises(WidenNeedsCall):
        services.access_widen(user=agent, patient=net.foreign, call=None, reason=REASON)
    call = services.call_start(agent=agent)
    with pytest.raises(WidenReasonMissing):
        services.access_widen(user=agent, patient=net.foreign, call=call, reason="  because ")
    assert not AccessWiden.objects.exists()


def test_break_glass_widens_for_the_call_only_and_is_audited(agent, net):
    api = bearer(agent)
    call = services.call_start(agent=agent, patient=net.foreign)

    widened = api.post(
        f"/api/v1/patients/{net.foreign.pk}/widen/",
        {"call_id": call.pk, "reason": REASON},
        content_type="application/json",
    )

    assert widened.status_code == 201
    assert context_status(api, net.foreign) == 200
    assert bearer(agent).get(f"/fhir/r4/Patient/{net.foreign.pk}").status_code == 200
    widen = AccessWiden.objects.get()
    assert (widen.user, widen.patient, widen.call, widen.region) == (
        agent,
        net.foreign,
        call,
        net.valley,
    )
    assert widen.reason == REASON
    entry = LogEntry.objects.get(additional_data__event="access_widened")
    assert entry.action == LogEntry.Action.ACCESS and entry.actor == agent
    assert entry.object_pk == str(net.foreign.pk)
    assert entry.additional_data["call_id"] == call.pk
    assert REASON not in str(entry.additional_data)  # the reason stays on the widen row

    services.call_wrap_up(call=call, by=agent, outcome="info_only")

    assert context_status(api, net.foreign) == 404


def test_another_agent_gains_nothing_from_a_colleagues_widen(agent, other_agent, net):
    f.agent_profile(user=other_agent, home_region=net.valley)
    call = services.call_start(agent=agent)
    services.access_widen(user=agent, patient=net.foreign, call=call, reason=REASON)
    assert context_status(bearer(other_agent), net.foreign) == 404


def test_the_console_asks_for_a_reason_then_opens_and_audits(client, agent, net):
    client.force_login(agent)
    htmx = {"HX-Request": "true"}
    client.post("/console/call/start/", {"caller_phone": "3035550100"}, headers=htmx)

    asked = client.post("/console/patients/open/", {"patient_id": net.foreign.pk}, headers=htmx)
    assert asked.status_code == 403
    html = asked.content.decode()
    assert 'name="widen_reason"' in html and net.foreign.last_name not in html

    opened = client.post(
        "/console/patients/open/",
        {"patient_id": net.foreign.pk, "widen_reason": REASON},
        headers=htmx,
    )
    assert opened.status_code == 200
    assert net.foreign.last_name in opened.content.decode()
    assert AccessWiden.objects.filter(user=agent, patient=net.foreign).count() == 1


def test_agents_without_a_home_region_and_admins_reach_everyone(other_agent, admin_user, net):
    assert context_status(bearer(other_agent), net.foreign) == 200
    assert context_status(bearer(admin_user), net.foreign) == 200


def test_compliance_reviews_widens_in_the_admin_and_agents_cannot(client, agent, net):
    call = services.call_start(agent=agent)
    services.access_widen(user=agent, patient=net.foreign, call=call, reason=REASON)
    officer = User.objects.create_user("compliance.test", password="x", is_staff=True)
    officer.groups.add(Group.objects.get_or_create(name=COMPLIANCE)[0])
    from config.roles import roles_sync

    roles_sync()
    client.force_login(officer)

    listing = client.get("/admin/scheduling/accesswiden/")

    assert listing.status_code == 200
    assert REASON in listing.content.decode()
    client.force_login(agent)
    assert client.get("/admin/scheduling/accesswiden/").status_code in (302, 403)
