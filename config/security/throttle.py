"""Sign-in throttling by source address, and lockout reports.

Two limits, each for its own attack. axes locks one username from one address after
LOGIN_FAILURE_LIMIT failures (guessing one person's password), and an attacker elsewhere
does not lock that person out. The address budget below caps failed sign-ins from one
address across all usernames (spraying one password over a user list): past
LOGIN_IP_FAILURE_LIMIT in a window (opened by its first failure), that address is
refused until the window ends. The
budget is generous because a call center's agents share one NAT address.

Counts live in the shared cache (Redis in production) so every web process sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from config.audit import audit_security_event
from config.models import AuditEntry as LogEntry

from .ratelimit import hit, peek

logger = logging.getLogger(__name__)

ERR_ADDRESS_THROTTLED = (
    "Too many failed sign-ins from your network. Try again in {minutes} minutes."
)
REFUSED_ATTR = "hub_sign_in_retry_after"


def _key(request: Any) -> tuple[str, str]:
    ip = get_client_ip_address(request) or "unknown"
    return ip, f"signin-fail:{ip}"


def address_retry_after(request: HttpRequest) -> int:
    """Seconds this address must wait before trying again; 0 when it may try now."""
    _ip, key = _key(request)
    failures, left = peek(key, settings.LOGIN_IP_WINDOW_SECONDS)
    return left if failures >= settings.LOGIN_IP_FAILURE_LIMIT else 0


def login_failure_count(sender: Any, credentials: Any, request: Any = None, **_: Any) -> None:
    """user_login_failed: one more failure against the source address's budget."""
    if request is None:
        return
    ip, key = _key(request)
    failures, left = hit(key, settings.LOGIN_IP_WINDOW_SECONDS)
    if failures == settings.LOGIN_IP_FAILURE_LIMIT:
        logger.warning("sign-in throttled for address %s for %s s", ip, left)
        username = credentials.get("username") if isinstance(credentials, dict) else None
        _report(event="sign_in_address_throttled", username=username, ip=ip)


def lockout_report(sender: Any, request: Any, username: str, ip_address: str, **_: Any) -> None:
    """axes' user_locked_out: an audit entry on the user (admins see lockouts in the
    audit log and in the admin's Access attempts list)."""
    logger.warning("sign-in locked for one username from address %s", ip_address)
    _report(event="sign_in_locked_out", username=username, ip=ip_address)


def _report(*, event: str, username: str | None, ip: str) -> None:
    user = (
        get_user_model().objects.filter(username=username).first() if username is not None else None
    )
    if user is not None:
        audit_security_event(actor=None, instance=user, event=event, ip=ip)


def sign_in_lockouts_recent(hours: int = 24) -> dict[str, int]:
    """What admins see on their home page: usernames locked and addresses throttled
    in the last ``hours``, from the audit entries written above."""
    since = timezone.now() - timedelta(hours=hours)
    recent = LogEntry.objects.filter(timestamp__gte=since)
    return {
        "locked": recent.filter(additional_data__event="sign_in_locked_out").count(),
        "throttled": recent.filter(additional_data__event="sign_in_address_throttled").count(),
        "hours": hours,
    }


class AddressThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses every sign-in from an address over its
    budget before any password is checked, on every login form (the admin's included).
    It has no ``get_user`` on purpose, like axes' backend: it never signs anyone in."""

    def authenticate(self, request: Any, **credentials: Any) -> None:
        if request is None:
            return None
        retry_after = address_retry_after(request)
        if retry_after:
            setattr(request, REFUSED_ATTR, retry_after)
            raise PermissionDenied
        return None


class SignInRefusalMiddleware:
    """Turns a sign-in refused by AddressThrottleBackend into 429 with Retry-After."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        retry_after = getattr(request, REFUSED_ATTR, 0)
        if not retry_after:
            return response
        message = ERR_ADDRESS_THROTTLED.format(minutes=max(1, round(retry_after / 60)))
        refused = render(request, "registration/locked_out.html", {"message": message}, status=429)
        refused["Retry-After"] = str(retry_after)
        return refused
