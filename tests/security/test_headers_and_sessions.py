"""Every answer carries the security headers; idle and absolute session limits hold, and
background polls do not keep a session alive."""

from __future__ import annotations

import time

import pytest

from config.security.sessions import ACTIVE_AT, BACKGROUND_HEADER, SIGNED_IN_AT

pytestmark = pytest.mark.django_db
BACKGROUND = {BACKGROUND_HEADER: "1"}


def assert_security_headers(response) -> None:
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp
    assert "no-store" in response["Cache-Control"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_every_kind_of_answer_carries_the_security_headers(client, agent):
    anonymous = [
        client.get("/accounts/login/"),
        client.get("/api/v1/me/"),
        client.get("/fhir/r4/Patient"),
        client.get("/console/"),
    ]
    client.force_login(agent)
    signed_in = [client.get("/console/"), client.get("/api/v1/me/"), client.get("/nowhere/")]
    for response in anonymous + signed_in:
        assert_security_headers(response)


def test_static_files_stay_cacheable(client):
    response = client.get("/static/css/hub.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


def set_clock(client, **stamps: int) -> None:
    session = client.session
    for key, value in stamps.items():
        session[key] = value
    session.save()


def test_a_background_poll_does_not_renew_the_session_but_a_click_does(client, ops_manager):
    client.force_login(ops_manager)
    idle_since = int(time.time()) - 25 * 60
    set_clock(client, **{ACTIVE_AT: idle_since})

    poll = client.get("/integrations/health/", headers={"HX-Request": "true", **BACKGROUND})
    assert poll.status_code == 200
    assert "sessionid" not in poll.cookies  # the cookie's lifetime is not extended
    assert client.session[ACTIVE_AT] == idle_since

    assert client.get("/integrations/health/").status_code == 200
    assert client.session[ACTIVE_AT] >= int(time.time()) - 5


def test_polls_alone_cannot_keep_an_idle_session_alive(client, ops_manager, settings):
    client.force_login(ops_manager)
    set_clock(client, **{ACTIVE_AT: int(time.time()) - settings.SESSION_COOKIE_AGE - 1})

    poll = client.get("/integrations/health/", headers=BACKGROUND)

    assert poll.status_code == 302 and "/accounts/login/" in poll["Location"]
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_the_health_page_marks_its_poll_as_background(client, ops_manager):
    client.force_login(ops_manager)
    html = client.get("/integrations/health/").content.decode()
    assert 'hx-trigger="every 15s"' in html and BACKGROUND_HEADER in html


def test_a_busy_session_still_ends_at_the_absolute_lifetime(client, agent, settings):
    client.force_login(agent)
    now = int(time.time())
    set_clock(client, **{SIGNED_IN_AT: now - settings.SESSION_ABSOLUTE_SECONDS - 1, ACTIVE_AT: now})

    response = client.get("/console/")

    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_every_polling_element_marks_itself_as_background():
    """A poll without the header would keep an unattended session alive forever."""
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "templates"
    polling = [
        (path, line)
        for path in templates.rglob("*.html")
        for line in path.read_text().splitlines()
        if 'hx-trigger="every' in line
    ]
    assert polling  # the integration-health page polls
    for path, line in polling:
        assert BACKGROUND_HEADER in line, path


def test_clicks_within_a_minute_of_the_last_stamp_do_not_rewrite_the_session(client, agent):
    client.force_login(agent)
    assert client.get("/console/").status_code == 200
    stamped = int(time.time()) - 10
    set_clock(client, **{ACTIVE_AT: stamped})

    response = client.get("/console/")

    assert response.status_code == 200
    assert "sessionid" not in response.cookies  # not saved, so not reissued
    assert client.session[ACTIVE_AT] == stamped

    set_clock(client, **{ACTIVE_AT: stamped - 60})
    assert "sessionid" in client.get("/console/").cookies
    assert client.session[ACTIVE_AT] >= int(time.time()) - 5
