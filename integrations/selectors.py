"""Reads for integration health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from .models import Connector, Message, PollHealth, SyncCursor
from .transport_security import TransportWarning, transport_warnings

QUEUED = (Message.Status.RECEIVED, Message.Status.PENDING)


def _duration(span: timedelta | None) -> str:
    if span is None:
        return ""
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 3 * 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


@dataclass(frozen=True)
class ConnectorHealth:
    connector_id: int
    name: str
    kind: str
    location: str
    enabled: bool
    last_message_at: datetime | None
    lag: timedelta | None  # age of the oldest message still waiting, in or out
    queued: int
    failed: int
    dead: int
    rejected: int
    review: int = 0  # rows flagged for a person (an X12 control number reused)
    # Polled connectors (FHIR): the last successful and failed poll, and the cursor's age
    # (since the least recently read resource type was last read up to date).
    polled: bool = False
    poll_ok_at: datetime | None = None
    poll_failed_at: datetime | None = None
    poll_error: str = ""
    poll_failures: int = 0
    cursor_age: timedelta | None = None

    @property
    def poll_failing(self) -> bool:
        return self.poll_failed_at is not None and (
            self.poll_ok_at is None or self.poll_failed_at > self.poll_ok_at
        )

    @property
    def cursor_age_display(self) -> str:
        return _duration(self.cursor_age)

    @property
    def lag_display(self) -> str:
        return _duration(self.lag)

    @property
    def state(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.poll_failing:
            return "failing"
        if self.dead or self.review or (self.lag is not None and self.lag > timedelta(minutes=15)):
            return "attention"
        if self.failed:
            return "retrying"
        return "ok"


def connector_health(*, now: datetime | None = None) -> list[ConnectorHealth]:
    """One row per connector from one grouped query over the ledger."""
    now = now or timezone.now()
    waiting = Q(messages__status__in=[*QUEUED, Message.Status.FAILED])
    rows = (
        Connector.objects.select_related("location")
        .annotate(
            last_at=Max("messages__received_at"),
            oldest_waiting=Min("messages__received_at", filter=waiting),
            queued=Count("messages", filter=Q(messages__status__in=QUEUED)),
            failed=Count("messages", filter=Q(messages__status=Message.Status.FAILED)),
            dead=Count("messages", filter=Q(messages__status=Message.Status.DEAD)),
            rejected=Count("messages", filter=Q(messages__status=Message.Status.REJECTED)),
            review=Count("messages", filter=~Q(messages__review_reason="")),
        )
        .order_by("name")
    )
    polls = {p.connector_id: p for p in PollHealth.objects.all()}
    cursors = dict(
        SyncCursor.objects.values("connector_id")
        .annotate(oldest=Min("polled_at"))
        .values_list("connector_id", "oldest")
    )
    return [
        ConnectorHealth(
            connector_id=c.pk,
            name=c.name,
            kind=c.get_kind_display(),
            location=c.location.name if c.location else "",
            enabled=c.enabled,
            last_message_at=c.last_at,
            lag=(now - c.oldest_waiting) if c.oldest_waiting else None,
            queued=c.queued,
            failed=c.failed,
            dead=c.dead,
            rejected=c.rejected,
            review=c.review,
            polled=c.pk in polls or c.pk in cursors,
            poll_ok_at=polls[c.pk].last_success_at if c.pk in polls else None,
            poll_failed_at=polls[c.pk].last_failure_at if c.pk in polls else None,
            poll_error=polls[c.pk].last_error if c.pk in polls else "",
            poll_failures=polls[c.pk].consecutive_failures if c.pk in polls else 0,
            cursor_age=(now - cursors[c.pk]) if cursors.get(c.pk) else None,
        )
        for c in rows
    ]


def connector_transport_warnings() -> list[TransportWarning]:
    """Connectors that travel in clear by exception, or are refused for it."""
    return transport_warnings(list(Connector.objects.order_by("name")))
