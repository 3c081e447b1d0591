"""The live wallboard: per hub, the queue now and today's service so far."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.htmx import HtmxHttpRequest, render_page
from config.permissions import VIEW_KPI
from scheduling.models import Presence
from scheduling.selectors.hubs import wallboard as wallboard_rows

POLL_SECONDS = 5


@require_GET
@permission_required(VIEW_KPI, raise_exception=True)
def wallboard(request: HtmxHttpRequest) -> HttpResponse:
    """Counts and times only; no caller or patient appears. The page polls this view
    for its #board partial as a background request."""
    now = timezone.now()
    context = {
        "boards": wallboard_rows(now=now),
        "states": Presence.choices,
        "now": now,
        "poll_seconds": POLL_SECONDS,
    }
    return render_page(request, "kpi/wallboard.html", context, partial="board")
