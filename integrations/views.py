from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse
from django.utils import timezone

from config.audit_chain import audit_verification_latest
from config.htmx import HtmxHttpRequest, render_page
from config.permissions import VIEW_MESSAGE

from .selectors import (
    activity_recent,
    connector_health,
    connector_transport_warnings,
    outbox_summary,
)


@permission_required(VIEW_MESSAGE, raise_exception=True)
def health(request: HtmxHttpRequest) -> HttpResponse:
    """Per connector: last message, lag, queued, failed, dead-lettered (ops and admin)."""
    rows = connector_health()
    context = {
        "rows": rows,
        "transport_warnings": connector_transport_warnings(),
        "now": timezone.now(),
        # The nightly audit_verify's last result: a broken chain is an incident to see here.
        "audit": audit_verification_latest(),
        "totals": {
            "queued": sum(r.queued for r in rows),
            "failed": sum(r.failed for r in rows),
            "dead": sum(r.dead for r in rows),
            "review": sum(r.review for r in rows),
        },
        # /metrics reads the same selectors, so a graph and this page never disagree.
        "outbox": outbox_summary(),
        "activity": activity_recent(),
    }
    return render_page(request, "integrations/health.html", context, partial="table")
