"""``/metrics``: Prometheus exposition for an operations team's alerts.

The database gauges are computed at scrape time from the selectors the integration
health page renders (``connector_health``, ``outbox_summary``, ``activity_recent``), so a
graph and the page show the same numbers. Connector names are configuration, not PHI;
no patient, message or user identifier is ever a label.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rest_framework import permissions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.views import APIView

from config.metrics import exposition, queue_depths
from config.permissions import VIEW_MESSAGE

from .auth import BearerTokenAuthentication
from .selectors import activity_recent, connector_health, outbox_summary

logger = logging.getLogger(__name__)


class HubCollector(Collector):
    def collect(self):
        rows = connector_health()
        labels = ["connector", "kind"]
        lag = GaugeMetricFamily(
            "carehub_connector_lag_seconds",
            "Age of the oldest message still waiting on the connector, in or out (0: none).",
            labels=labels,
        )
        backlog = GaugeMetricFamily(
            "carehub_connector_backlog",
            "Messages on the connector by state: queued, failed (retrying), dead, rejected.",
            labels=[*labels, "state"],
        )
        poll_failing = GaugeMetricFamily(
            "carehub_connector_poll_failing",
            "1 when the connector's last poll failed after its last success.",
            labels=labels,
        )
        for row in rows:
            key = [row.name, row.kind]
            lag.add_metric(key, row.lag.total_seconds() if row.lag else 0.0)
            for state in ("queued", "failed", "dead", "rejected"):
                backlog.add_metric([*key, state], getattr(row, state))
            if row.polled:
                poll_failing.add_metric(key, 1.0 if row.poll_failing else 0.0)
        yield lag
        yield backlog
        yield poll_failing

        outbox = outbox_summary()
        events = GaugeMetricFamily(
            "carehub_outbox_events", "Outbox events by state.", labels=["state"]
        )
        events.add_metric(["pending"], outbox.pending)
        events.add_metric(["dead"], outbox.dead)
        yield events

        activity = activity_recent()
        window = str(int(activity.window.total_seconds()))
        holds = GaugeMetricFamily(
            "carehub_holds_placed_recent",
            "Holds placed in the trailing window (seconds in the label).",
            labels=["window_seconds"],
        )
        holds.add_metric([window], activity.holds_placed)
        yield holds
        booked = GaugeMetricFamily(
            "carehub_appointments_booked_recent",
            "Appointments created in the trailing window (seconds in the label).",
            labels=["window_seconds"],
        )
        booked.add_metric([window], activity.appointments_booked)
        yield booked
        eligibility = GaugeMetricFamily(
            "carehub_eligibility_answered_recent",
            "Eligibility checks answered in the trailing window, by answer.",
            labels=["window_seconds", "status"],
        )
        for status, n in activity.eligibility_answered.items():
            eligibility.add_metric([window, status], n)
        yield eligibility

        depth = GaugeMetricFamily(
            "carehub_worker_queue_depth",
            "Tasks waiting in the Celery queue (-1: the broker could not be read).",
            labels=["queue"],
        )
        try:
            for queue, n in queue_depths().items():
                depth.add_metric([queue], n)
        except Exception as exc:  # the broker down is itself worth a graph, not a 500
            logger.warning("queue depth unavailable: %s", type(exc).__name__)
            depth.add_metric(["unknown"], -1)
        yield depth


class CanReadMetrics(permissions.BasePermission):
    """A token with the metrics scope (checked when the token is admitted), whose owner
    may see integration health; or a signed-in person who may (ops, admin)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(VIEW_MESSAGE))


class MetricsView(APIView):
    # Bearer first: its challenge makes an anonymous scrape a 401, not a 403.
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [CanReadMetrics]
    schema = None  # not part of the /api/v1/ contract

    def get(self, request: Request) -> HttpResponse:
        body, content_type = exposition([HubCollector()])
        return HttpResponse(body, content_type=content_type)


metrics = login_not_required(MetricsView.as_view())
