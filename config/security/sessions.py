"""Idle and absolute session limits, with background polls not counting as activity."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

# Pages that poll in the background (integration health every 15 s) send this header;
# such a request is served but does not keep the session alive.
BACKGROUND_HEADER = "X-Hub-Background"
SIGNED_IN_AT = "_hub_signed_in_at"
ACTIVE_AT = "_hub_active_at"
# The activity stamp moves at most this often. Stamping every request would rewrite the
# (encrypted) session row in a transaction of its own on every click and every htmx
# fragment; a minute's grain on a 30-minute idle limit is invisible to people.
ACTIVE_GRAIN_SECONDS = 60


def session_stamp_sign_in(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    """user_logged_in: the absolute lifetime and the idle timer start at sign-in."""
    if request is None or not hasattr(request, "session"):
        return
    now = int(time.time())
    request.session[SIGNED_IN_AT] = now
    request.session[ACTIVE_AT] = now


def is_background(request: HttpRequest) -> bool:
    return request.headers.get(BACKGROUND_HEADER) == "1"


class SessionLifetimeMiddleware:
    """Ends a session idle for SESSION_COOKIE_AGE or older than SESSION_ABSOLUTE_SECONDS.

    Django's own expiry renews only when the session is saved; with
    SESSION_SAVE_EVERY_REQUEST off, this middleware saves (and so renews) it on requests a
    person made, at most once per ``ACTIVE_GRAIN_SECONDS``, and leaves it alone on
    background polls, whose cookie is not reissued.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and request.user.is_authenticated:
            now = int(time.time())
            signed_in = session.setdefault(SIGNED_IN_AT, now)
            active = session.get(ACTIVE_AT, now)
            expired = (
                now - signed_in > settings.SESSION_ABSOLUTE_SECONDS
                or now - active > settings.SESSION_COOKIE_AGE
            )
            if expired:
                logout(request)
            elif not is_background(request) and now - active >= ACTIVE_GRAIN_SECONDS:
                session[ACTIVE_AT] = now
        return self.get_response(request)
