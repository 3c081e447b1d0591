"""Roles above agent need a second factor before any page; agents may opt in."""

from __future__ import annotations

import base64
import re

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from config.models import AuditEntry as LogEntry
from config.roles import COMPLIANCE
from config.security.mfa import ERR_MFA_REQUIRED
from config.security.mfa_views import ERR_BAD_CODE
from tests.mfa import totp_code, totp_device

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-only"


def sign_in(user: User) -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    return client


def wait_out_the_code_throttle(user: User) -> None:
    """As if the delay after the last wrong code had passed."""
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)


@pytest.fixture
def compliance_officer(db) -> User:
    group, _ = Group.objects.get_or_create(name=COMPLIANCE)
    user = User.objects.create_user(username="compliance.test", password=PASSWORD)
    user.groups.add(group)
    return user


@pytest.mark.parametrize("role", ["ops_manager", "biller", "admin_user", "compliance_officer"])
def test_it_holds_a_password_only_session_of_a_privileged_role_at_the_mfa_step(request, role):
    user = request.getfixturevalue(role)
    client = sign_in(user)

    for url in ["/", "/kpi/", "/admin/", "/billing/", "/integrations/health/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/mfa/?next=")
    api = client.get("/api/v1/me/")
    assert api.status_code == 403 and api.json() == {"detail": ERR_MFA_REQUIRED}


def test_it_lets_an_agent_work_with_a_password_alone(agent):
    client = sign_in(agent)
    assert client.get("/console/").status_code == 200


def test_an_agent_who_enrolled_a_device_must_use_it(agent):
    totp_device(agent)
    client = sign_in(agent)
    assert client.get("/console/")["Location"].startswith("/accounts/mfa/")


def test_the_setting_turns_mfa_on_for_every_agent(agent, settings):
    settings.MFA_FOR_AGENTS = True
    client = sign_in(agent)
    assert client.get("/console/")["Location"].startswith("/accounts/mfa/")


def test_it_enrols_on_first_sign_in_and_shows_the_key_only_until_confirmed(ops_manager):
    client = sign_in(ops_manager)
    page = client.get("/accounts/mfa/?next=/kpi/", follow=True)
    assert page.redirect_chain[-1][0].startswith("/accounts/mfa/setup/")
    html = page.content.decode()
    assert "<svg" in html  # the QR code, inline
    secret = re.search(r"<code data-secret>([A-Z2-7=]+)</code>", html).group(1)

    wrong = client.post("/accounts/mfa/setup/", {"code": "000000", "next": "/kpi/"})
    assert wrong.status_code == 400 and ERR_BAD_CODE in wrong.content.decode().replace(
        "&#x27;", "'"
    )

    wait_out_the_code_throttle(ops_manager)
    code = f"{totp(base64.b32decode(secret)):06d}"
    done = client.post("/accounts/mfa/setup/", {"code": code, "next": "/kpi/"})
    assert done.status_code == 302 and done["Location"] == "/kpi/"
    assert client.get("/kpi/").status_code == 200
    assert TOTPDevice.objects.get(user=ops_manager).confirmed
    # The key is never shown again: setup now sends the user to the code step.
    assert client.get("/accounts/mfa/setup/")["Location"].startswith("/accounts/mfa/")
    assert LogEntry.objects.filter(additional_data__event="mfa_enrolled").count() == 1


def test_it_verifies_a_code_and_refuses_a_wrong_one_with_an_audit_entry(biller):
    device = totp_device(biller)
    client = sign_in(biller)

    wrong = client.post("/accounts/mfa/", {"code": "123456"})
    assert wrong.status_code == 400
    assert client.get("/billing/").status_code == 302

    # Right after a wrong code even the right one is refused (django-otp's growing delay).
    too_soon = client.post("/accounts/mfa/", {"code": totp_code(device), "next": "/billing/"})
    assert too_soon.status_code == 400
    wait_out_the_code_throttle(biller)
    ok = client.post("/accounts/mfa/", {"code": totp_code(device), "next": "/billing/"})
    assert ok.status_code == 302 and ok["Location"] == "/billing/"
    assert client.get("/billing/").status_code == 200
    events = list(
        LogEntry.objects.filter(object_pk=str(biller.pk)).values_list(
            "additional_data__event", flat=True
        )
    )
    assert "mfa_failed" in events and "mfa_verified" in events


def test_the_next_parameter_cannot_send_the_user_off_site(biller):
    device = totp_device(biller)
    client = sign_in(biller)
    response = client.post(
        "/accounts/mfa/", {"code": totp_code(device), "next": "https://evil.example/"}
    )
    assert response["Location"] == "/"


def test_an_agent_is_offered_enrolment_and_then_no_longer(client, agent):
    client.force_login(agent)  # the test client enrols a device for whoever it signs in
    # Agents land on the console; the offer is in every page's header.
    assert "Two-step sign-in" not in client.get("/console/").content.decode()
    TOTPDevice.objects.filter(user=agent).delete()
    assert "Two-step sign-in" in client.get("/console/").content.decode()
