from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.defaults import page_not_found

from config.permissions import (
    USE_CONSOLE,
    VIEW_DISCLOSURES,
    VIEW_KPI,
    VIEW_MESSAGE,
    WORK_CLAIMS,
)
from config.security.mfa import has_device
from config.security.throttle import sign_in_lockouts_recent

logger = logging.getLogger(__name__)


def home(request: HttpRequest) -> HttpResponse:
    """Where login lands: the list of the user's workplaces, or straight into the only
    one (an agent works in the console all day)."""
    user = request.user
    links = []
    if user.has_perm(USE_CONSOLE):
        links.append(("Agent console", "/console/"))
    if user.has_perm(VIEW_KPI):
        links.append(("Operations KPIs", "/kpi/"))
    if user.has_perm(WORK_CLAIMS):
        links.append(("Claim work queue", "/billing/"))
    if user.has_perm(VIEW_MESSAGE):
        links.append(("Integration health", "/integrations/health/"))
    if user.has_perm(VIEW_DISCLOSURES):
        links.append(("Accounting of disclosures", "/compliance/"))
    if user.is_staff:
        links.append(("Administration", "/admin/"))
    # One workplace (an agent's console): go straight there. Two-step sign-in set-up is
    # linked from every page's header, so nobody needs this page to reach it.
    if len(links) == 1:
        return redirect(links[0][1])
    context = {
        "links": links,
        "can_enrol_mfa": not has_device(user),
        "lockouts": sign_in_lockouts_recent() if user.is_staff else None,
    }
    return render(request, "home.html", context)


_FAVICON = Path(__file__).resolve().parent.parent / "static" / "favicon.ico"


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on every page, logged in or not."""
    response = HttpResponse(_FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=604800"
    return response


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("healthz: database unreachable", exc_info=True)
        return False


def _broker_ok() -> bool:
    from kombu import Connection

    try:
        with Connection(
            settings.CELERY_BROKER_URL,
            transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
            connect_timeout=2,
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        logger.warning("healthz: broker unreachable", exc_info=True)
        return False


@login_not_required
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers: two booleans, nothing else (no PHI, no versions)."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    healthy = all(checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    if settings.DEBUG:
        body["broker_url_kind"] = settings.CELERY_BROKER_URL.split("://", 1)[0]
    return JsonResponse(body, status=200 if healthy else 503)


ERR_API_NOT_FOUND = "Not found."


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: API clients get DRF's JSON error body, as for every other API error,
    even for a URL no route matches (``/api/v1/holds/x/release/``); people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": ERR_API_NOT_FOUND}, status=404)
    return page_not_found(request, exception)
