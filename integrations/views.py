from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from config.permissions import VIEW_MESSAGE

from .selectors import connector_health


@permission_required(VIEW_MESSAGE, raise_exception=True)
def health(request: HttpRequest) -> HttpResponse:
    """Per connector: last message, lag, queued, failed, dead-lettered (ops and admin)."""
    rows = connector_health()
    context = {
        "rows": rows,
        "now": timezone.now(),
        "totals": {
            "queued": sum(r.queued for r in rows),
            "failed": sum(r.failed for r in rows),
            "dead": sum(r.dead for r in rows),
        },
    }
    template = (
        "integrations/health.html#table"
        if request.headers.get("HX-Request")
        else "integrations/health.html"
    )
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response
