"""Every page and API needs a login; sessions idle out; guessing passwords locks the account."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

pytestmark = pytest.mark.django_db

# Reachable without a login, on purpose: the login page itself, the load balancer's
# probe (which answers two booleans and nothing else) and the icon browsers fetch.
PUBLIC = {"/accounts/login/", "/healthz", "/admin/login/", "/favicon.ico"}
# The patients' self-scheduling pages need no account by design: a patient proves who they
# are with name, birth date and a one-time code (tests/engagement/test_self_scheduling.py).
PATIENT_PUBLIC = {"/book/", "/book/1/"}


def _walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        pattern = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, pattern)
        elif isinstance(entry, URLPattern):
            yield pattern


def _concrete(pattern: str) -> str:
    """Turn a route or regex into a URL, filling every parameter with a plausible value."""
    url = re.sub(r"<(?:int:)?\w*(?:pk|id)\w*>", "1", pattern)
    url = re.sub(r"<path:\w+>", "x", url)
    url = re.sub(r"<[^>]+>", "1", url)
    url = re.sub(r"\(\?P<\w+>[^)]*\)", "1", url)
    url = url.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    url = re.sub(r"\(\?:[^)]*\)\??", "", url)
    return "/" + url.lstrip("/")


def all_urls() -> list[str]:
    return sorted({_concrete(p) for p in _walk(get_resolver())})


def test_the_walk_finds_the_product_surfaces():
    urls = all_urls()
    assert "/admin/" in urls and "/api/v1/me/" in urls and "/" in urls
    assert len(urls) > 50  # admin alone contributes dozens


@pytest.mark.parametrize("url", [u for u in all_urls() if u not in PUBLIC | PATIENT_PUBLIC])
def test_every_url_requires_login(url):
    response = Client().get(url)
    if response.status_code in (301, 302):
        assert "/login/" in response["Location"], (
            f"{url} redirects somewhere other than a login page"
        )
    else:
        assert response.status_code in (401, 403, 405), (
            f"{url} answered {response.status_code} to an anonymous user"
        )


def test_only_the_login_pages_and_the_probe_are_public():
    public = [u for u in all_urls() if u in PUBLIC]
    assert sorted(public) == sorted(PUBLIC)
    for url in public:
        assert Client().get(url).status_code in (200, 503)
    response = Client().get("/healthz")
    assert set(response.json()) <= {"status", "checks"}


def test_the_self_scheduling_pages_show_only_the_verification_form_anonymously(db):
    page = Client().get("/book/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="book-identify"' in body and 'id="book-search"' not in body
    assert Client().get("/book/1/").status_code == 404, "an unknown location is not a page"


def test_the_demo_agent_can_log_in(client, agent):
    response = client.post(
        "/accounts/login/", {"username": "agent.test", "password": "pw-for-tests-only"}
    )
    assert response.status_code == 302
    assert client.get("/", follow=True).status_code == 200


def test_a_wrong_password_gets_a_clear_message(client, agent):
    response = client.post("/accounts/login/", {"username": "agent.test", "password": "nope"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode().replace("&#x27;", "'")


def test_repeated_failed_logins_lock_the_account(client, agent, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "agent.test", "password": "wrong"})

    response = client.post(
        "/accounts/login/", {"username": "agent.test", "password": "pw-for-tests-only"}
    )

    assert response.status_code == 429
    assert b"Account locked" in response.content


def test_an_idle_session_expires(client, agent):
    client.post("/accounts/login/", {"username": "agent.test", "password": "pw-for-tests-only"})
    assert client.get("/", follow=True).status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_activity_renews_the_session(client, agent, settings, monkeypatch):
    # The stamp moves at most once per grain (a minute); here the grain has passed.
    monkeypatch.setattr("config.security.sessions.ACTIVE_GRAIN_SECONDS", 0)
    client.post("/accounts/login/", {"username": "agent.test", "password": "pw-for-tests-only"})
    Session.objects.update(expire_date=timezone.now() + timedelta(seconds=30))

    client.get("/")

    expiry = Session.objects.get().expire_date
    assert expiry > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)


def test_an_issued_token_authenticates_api_calls(agent, capsys):
    call_command("issue_api_token", "agent.test")
    token = capsys.readouterr().out.strip()

    response = Client().get("/api/v1/me/", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json() == {"username": "agent.test", "roles": ["agent"]}


def test_a_bad_token_is_refused(agent):
    assert (
        Client().get("/api/v1/me/", headers={"Authorization": "Bearer not-a-token"}).status_code
        == 401
    )
    assert Client().get("/api/v1/me/").status_code in (401, 403)


def test_issuing_a_token_for_an_unknown_user_says_so(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No active user named 'ghost'"):
        call_command("issue_api_token", "ghost")
