"""The integration-health KPI page: the message ledger and the outbox per connector, with
the drill-downs behind its numbers.

Registered with scheduling's KPI registry when IntegrationsConfig.ready imports this module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    QuerySet,
)
from django.utils import timezone

from integrations.models import Connector, Message, OutboxEvent
from scheduling.kpi.drill import fmt_time
from scheduling.kpi.filters import KpiFilters
from scheduling.kpi.metrics import NO_DATA, Metric, no_source_note, seconds
from scheduling.kpi.registry import Column, Drill, Section, drill_register, section_register
from scheduling.kpi.selectors import in_period, scoped
from scheduling.kpi.tables import Page, Table, counted, drill_url

FAILED = [Message.Status.FAILED, Message.Status.REJECTED]
BACKLOG = [Message.Status.RECEIVED, Message.Status.PENDING, Message.Status.FAILED]
MESSAGE_LAG = ExpressionWrapper(F("processed_at") - F("received_at"), output_field=DurationField())
OUTBOX_LAG = ExpressionWrapper(F("delivered_at") - F("created_at"), output_field=DurationField())

DEF_THROUGHPUT = "Messages in and out recorded in the ledger in the period."
DEF_FAILURES = (
    "Ledger messages of the period that are failing (will retry) or were rejected as bad."
)
DEF_DEAD = (
    "Ledger messages and outbox events of the period that were dead-lettered after the last retry."
)
DEF_LAG = (
    "Average time from receipt (inbound) or enqueue (outbound) to processing or delivery, "
    "for messages of the period that were processed."
)
DEF_SCOPE = "Location and region filters apply through the connector's location."


def messages_scoped(f: KpiFilters) -> QuerySet[Message]:
    return scoped(
        Message.objects.all(),
        f,
        region="connector__location__region_id",
        location="connector__location_id",
    )


def outbox_scoped(f: KpiFilters) -> QuerySet[OutboxEvent]:
    return scoped(
        OutboxEvent.objects.all(), f, region="location__region_id", location="location_id"
    )


def integration_metrics(f: KpiFilters) -> list[Metric]:
    cur, prev = Q(received_at__gte=f.start), Q(received_at__lt=f.start)
    processed = Q(processed_at__isnull=False)
    dead = Q(status=Message.Status.DEAD)
    agg = (
        messages_scoped(f)
        .filter(received_at__gte=f.prev_start, received_at__lt=f.end)
        .aggregate(
            cur=Count("id", filter=cur),
            prev=Count("id", filter=prev),
            failed_cur=Count("id", filter=cur & Q(status__in=FAILED)),
            failed_prev=Count("id", filter=prev & Q(status__in=FAILED)),
            dead_cur=Count("id", filter=cur & dead),
            dead_prev=Count("id", filter=prev & dead),
            lag_cur=Avg(MESSAGE_LAG, filter=cur & processed),
            lag_prev=Avg(MESSAGE_LAG, filter=prev & processed),
        )
    )
    ocur, oprev = Q(created_at__gte=f.start), Q(created_at__lt=f.start)
    odead = Q(status=OutboxEvent.Status.DEAD)
    oagg = (
        outbox_scoped(f)
        .filter(created_at__gte=f.prev_start, created_at__lt=f.end)
        .aggregate(
            dead_cur=Count("id", filter=ocur & odead), dead_prev=Count("id", filter=oprev & odead)
        )
    )
    seen = bool(agg["cur"] or agg["prev"])
    no_messages = no_source_note(seen, Message, "the message ledger is empty.")
    no_dead_source = (
        ""
        if seen or Message.objects.exists() or OutboxEvent.objects.exists()
        else f"{NO_DATA}: neither the ledger nor the outbox has rows."
    )
    return [
        Metric(
            "messages",
            "Throughput",
            f"{DEF_THROUGHPUT} {DEF_SCOPE}",
            "count",
            agg["cur"],
            agg["prev"],
            drill="messages",
            no_source=no_messages,
        ),
        Metric(
            "message_failures",
            "Failures",
            f"{DEF_FAILURES} {DEF_SCOPE}",
            "count",
            agg["failed_cur"],
            agg["failed_prev"],
            drill="failed_messages",
            no_source=no_messages,
            lower_is_better=True,
        ),
        Metric(
            "dead_letters",
            "Dead letters",
            f"{DEF_DEAD} {DEF_SCOPE}",
            "count",
            agg["dead_cur"] + oagg["dead_cur"],
            agg["dead_prev"] + oagg["dead_prev"],
            drill="dead_letters",
            no_source=no_dead_source,
            lower_is_better=True,
        ),
        Metric(
            "message_lag",
            "Processing lag",
            f"{DEF_LAG} {DEF_SCOPE}",
            "seconds",
            seconds(agg["lag_cur"]),
            seconds(agg["lag_prev"]),
            drill="messages",
            no_source=no_messages,
            lower_is_better=True,
        ),
    ]


def connector_health(f: KpiFilters, now: datetime | None = None) -> list[dict[str, Any]]:
    """One row per connector: throughput, failures, dead letters, lag, and the backlog now."""
    now = now or timezone.now()
    period = Q(messages__received_at__gte=f.start, messages__received_at__lt=f.end)
    connectors = Connector.objects.all()
    if f.region_id:
        connectors = connectors.filter(location__region_id=f.region_id)
    if f.location_id:
        connectors = connectors.filter(location_id=f.location_id)
    lag = ExpressionWrapper(
        F("messages__processed_at") - F("messages__received_at"), output_field=DurationField()
    )
    rows = connectors.values("id", "name", "kind", "role", "enabled").annotate(
        inbound=Count("messages", filter=period & Q(messages__direction=Message.Direction.INBOUND)),
        outbound=Count(
            "messages", filter=period & Q(messages__direction=Message.Direction.OUTBOUND)
        ),
        failures=Count("messages", filter=period & Q(messages__status__in=FAILED)),
        dead=Count("messages", filter=period & Q(messages__status=Message.Status.DEAD)),
        avg_lag=Avg(lag, filter=period & Q(messages__processed_at__isnull=False)),
        max_lag=Max(lag, filter=period & Q(messages__processed_at__isnull=False)),
        backlog=Count("messages", filter=Q(messages__status__in=BACKLOG)),
        oldest_backlog=Min("messages__received_at", filter=Q(messages__status__in=BACKLOG)),
    )
    out = []
    for row in rows.order_by("name"):
        r: dict[str, Any] = dict(row)
        r["throughput"] = r["inbound"] + r["outbound"]
        r["avg_lag_seconds"] = seconds(r.pop("avg_lag"))
        r["max_lag_seconds"] = seconds(r.pop("max_lag"))
        oldest = r.pop("oldest_backlog")
        r["backlog_age_seconds"] = (now - oldest).total_seconds() if oldest else None
        out.append(r)
    return out


def outbox_summary(f: KpiFilters) -> list[dict[str, Any]]:
    rows = (
        outbox_scoped(f)
        .filter(created_at__gte=f.start, created_at__lt=f.end)
        .values("status")
        .annotate(events=Count("id"), avg_lag=Avg(OUTBOX_LAG))
        .order_by("status")
    )
    labels = dict(OutboxEvent.Status.choices)
    return [
        {
            "status": r["status"],
            "label": labels.get(r["status"], r["status"]),
            "events": r["events"],
            "avg_lag_seconds": seconds(r["avg_lag"]),
        }
        for r in rows
    ]


def _integrations(f: KpiFilters) -> Page:
    return Page(
        metrics=integration_metrics(f),
        tables=[
            Table(
                "connectors",
                "Per connector",
                [
                    ("Connector", "name", "text"),
                    ("Kind", "kind", "text"),
                    ("In", "inbound", "count"),
                    ("Out", "outbound", "count"),
                    ("Failures", "failures", "count"),
                    ("Dead letters", "dead", "count"),
                    ("Average lag", "avg_lag_seconds", "seconds"),
                    ("Worst lag", "max_lag_seconds", "seconds"),
                    ("Backlog now", "backlog", "count"),
                    ("Oldest backlog", "backlog_age_seconds", "seconds"),
                ],
                connector_health(f),
                link=lambda r: drill_url("messages", f, connector=r["id"]),
                link_label=lambda r: counted((r["inbound"] or 0) + (r["outbound"] or 0), "message"),
            ),
            Table(
                "outbox",
                "Outbox events of the period by status",
                [
                    ("Status", "label", "text"),
                    ("Events", "events", "count"),
                    ("Average delivery lag", "avg_lag_seconds", "seconds"),
                ],
                outbox_summary(f),
                link=lambda r: drill_url("dead_outbox", f) if r["status"] == "dead" else None,
                link_label=lambda r: counted(r["events"], "dead event"),
            ),
        ],
    )


def _messages(f: KpiFilters, params: dict[str, int]) -> QuerySet[Message]:
    qs = messages_scoped(f).filter(in_period("received_at", f))
    if params.get("connector"):
        qs = qs.filter(connector_id=params["connector"])
    # ``raw`` holds PHI and can be large: never loaded here.
    return qs.defer("raw", "ack_raw").select_related("connector").order_by("-received_at", "-pk")


def _failed_messages(f: KpiFilters, params: dict[str, int]) -> QuerySet[Message]:
    return _messages(f, params).filter(status__in=FAILED)


def _dead_messages(f: KpiFilters, params: dict[str, int]) -> QuerySet[Message]:
    return _messages(f, params).filter(status=Message.Status.DEAD)


def _dead_outbox(f: KpiFilters, _: dict[str, int]) -> QuerySet[OutboxEvent]:
    return (
        outbox_scoped(f)
        .filter(in_period("created_at", f), status=OutboxEvent.Status.DEAD)
        .select_related("location")
        .order_by("-created_at", "-pk")
    )


MESSAGE_COLUMNS = [
    Column("Message", lambda r: r.pk),
    Column("Received", lambda r: fmt_time(r.received_at)),
    Column("Connector", lambda r: r.connector.name if r.connector else "(none)"),
    Column("Direction", lambda r: r.get_direction_display()),
    Column("Type", lambda r: r.message_type),
    Column("Status", lambda r: r.get_status_display()),
    Column("Attempts", lambda r: r.attempts),
    Column(
        "Lag (s)",
        lambda r: round(seconds(r.processed_at - r.received_at) or 0) if r.processed_at else "",
    ),
    # Error texts are written by our own adapters as constants, without PHI.
    Column("Last error", lambda r: r.last_error[:200]),
]


_DRILLS: dict[str, Drill] = {
    "messages": Drill("Messages", "Ledger messages of the period.", _messages, MESSAGE_COLUMNS),
    "failed_messages": Drill(
        "Failing messages",
        "Failing or rejected ledger messages.",
        _failed_messages,
        MESSAGE_COLUMNS,
    ),
    "dead_letters": Drill(
        "Dead-lettered messages", "Ledger messages dead-lettered.", _dead_messages, MESSAGE_COLUMNS
    ),
    "dead_outbox": Drill(
        "Dead-lettered outbox events",
        "Outbox events dead-lettered.",
        _dead_outbox,
        [
            Column("Event", lambda r: r.pk),
            Column("Created", lambda r: fmt_time(r.created_at, r.location)),
            Column("Type", lambda r: r.event_type),
            Column("Aggregate", lambda r: f"{r.aggregate_type}#{r.aggregate_id}"),
            Column("Location", lambda r: r.location.name if r.location else ""),
            Column("Attempts", lambda r: r.attempts),
            Column("Last error", lambda r: r.last_error[:200]),
        ],
    ),
}

for _key, _drill in _DRILLS.items():
    drill_register(_key, _drill)

section_register(
    Section(
        "integrations",
        "Integration health",
        50,
        _integrations,
        overview_metrics=integration_metrics,
        overview_keys=frozenset({"dead_letters"}),
    )
)
