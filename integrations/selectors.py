"""Reads for integration health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from billing.models import EligibilityCheck
from scheduling.models import Appointment, Hold

from .models import Connector, Message, OutboxEvent, PollHealth, SyncCursor
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


@dataclass(frozen=True)
class OutboxSummary:
    pending: int  # domain events not yet turned into deliveries, or still being retried
    dead: int  # events the relay gave up on


def outbox_summary() -> OutboxSummary:
    """The outbox's own backlog (deliveries per connector are in ``connector_health``)."""
    counts = OutboxEvent.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxEvent.Status.PENDING)),
        dead=Count("id", filter=Q(status=OutboxEvent.Status.DEAD)),
    )
    return OutboxSummary(pending=counts["pending"], dead=counts["dead"])


ACTIVITY_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class Activity:
    """What the hub did in the trailing window: throughput an ops team alerts on when it
    drops to zero in working hours."""

    window: timedelta
    holds_placed: int
    appointments_booked: int
    eligibility_answered: dict[str, int]  # by answer: active, inactive, error

    @property
    def window_display(self) -> str:
        return _duration(self.window)


def activity_recent(*, now: datetime | None = None) -> Activity:
    now = now or timezone.now()
    since = now - ACTIVITY_WINDOW
    answered = dict(
        EligibilityCheck.objects.filter(responded_at__gt=since, responded_at__lte=now)
        .values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return Activity(
        window=ACTIVITY_WINDOW,
        holds_placed=Hold.objects.filter(created_at__gt=since, created_at__lte=now).count(),
        appointments_booked=Appointment.objects.filter(
            created_at__gt=since, created_at__lte=now
        ).count(),
        eligibility_answered={
            status: answered.get(status, 0)
            for status in EligibilityCheck.Status.values
            if status != EligibilityCheck.Status.PENDING
        },
    )
