"""Spraying passwords from one address is slowed; one person's lockout locks nobody else."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from config.models import AuditEntry as LogEntry

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests-only"
ATTACKER = "203.0.113.7"
CALL_CENTER = "198.51.100.20"


def sign_in(username: str, password: str, ip: str):
    response = Client(REMOTE_ADDR=ip).post(
        "/accounts/login/", {"username": username, "password": password}
    )
    return response


def test_spraying_forty_usernames_from_one_address_is_refused_after_the_budget(db, settings):
    users = [User.objects.create_user(f"agent{i:02d}", password=PASSWORD) for i in range(40)]

    answers = [sign_in(u.username, "Summer2026!", ATTACKER) for u in users]

    limit = settings.LOGIN_IP_FAILURE_LIMIT
    assert [a.status_code for a in answers[:limit]] == [200] * limit
    refused = answers[limit:]
    assert refused and all(a.status_code == 429 for a in refused)
    retry_after = int(refused[0]["Retry-After"])
    assert 0 < retry_after <= settings.LOGIN_IP_WINDOW_SECONDS
    assert "Too many failed sign-ins from your network" in refused[0].content.decode()
    # Even the right password is refused from that address until the window ends...
    assert sign_in("agent00", PASSWORD, ATTACKER).status_code == 429
    # ...while the call center, elsewhere, keeps signing in.
    assert sign_in("agent00", PASSWORD, CALL_CENTER).status_code == 302
    assert LogEntry.objects.filter(additional_data__event="sign_in_address_throttled").exists()


def test_one_users_lockout_does_not_lock_the_others(agent, other_agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("agent.test", "wrong", CALL_CENTER)

    locked = sign_in("agent.test", PASSWORD, CALL_CENTER)
    assert locked.status_code == 429 and b"Account locked" in locked.content

    # The agent beside them, behind the same address, signs in.
    assert sign_in("agent.other", PASSWORD, CALL_CENTER).status_code == 302
    # And whoever guessed from elsewhere did not lock the agent out of the call center.
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("agent.other", "wrong", ATTACKER)
    assert sign_in("agent.other", PASSWORD, CALL_CENTER).status_code == 302

    locked_out = LogEntry.objects.filter(additional_data__event="sign_in_locked_out")
    assert {(e.object_pk, e.additional_data["ip"]) for e in locked_out} == {
        (str(agent.pk), CALL_CENTER),
        (str(other_agent.pk), ATTACKER),
    }


def test_the_admin_login_form_is_throttled_too(db, settings):
    settings.LOGIN_IP_FAILURE_LIMIT = 3
    for i in range(3):
        Client(REMOTE_ADDR=ATTACKER).post(
            "/admin/login/", {"username": f"nobody{i}", "password": "x"}
        )
    response = Client(REMOTE_ADDR=ATTACKER).post(
        "/admin/login/", {"username": "nobody9", "password": "x"}
    )
    assert response.status_code == 429 and response["Retry-After"]


def test_admins_see_recent_lockouts_on_their_home_page(client, agent, admin_user, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in("agent.test", "wrong", ATTACKER)
    client.force_login(admin_user)

    html = client.get("/").content.decode()

    assert "1 lockout," in html and "/admin/axes/accessattempt/" in html
    assert client.get("/admin/axes/accessattempt/").status_code == 200
