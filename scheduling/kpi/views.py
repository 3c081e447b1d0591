"""KPI pages: thin views over the selectors; htmx swaps the page's #content partial."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from auditlog.models import LogEntry
from django.contrib.auth.decorators import permission_required
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from config.htmx import HtmxHttpRequest, render_page
from patients.models import Patient
from scheduling.models import Appointment

from . import integration, revenue, selectors
from .drill import DRILL_PARAMS, DRILLS, channel_param, local_time, visible_columns
from .filters import DEFAULT_ACCURACY_DAYS, KpiFilterForm, KpiFilters, default_filters
from .metrics import Metric, format_delta, format_value
from .svg import bar_chart

PAGE_SIZE = 100
MAX_EXPORT_ROWS = 100_000
VIEW_KPI = "scheduling.view_kpi"
VIEW_PHI = "patients.view_patient"

SECTIONS = [
    ("overview", "Overview"),
    ("access", "Access"),
    ("accuracy", "Accuracy"),
    ("capacity", "Capacity"),
    ("revenue", "Revenue"),
    ("integrations", "Integration health"),
]


@dataclass
class Table:
    key: str
    title: str
    # (header, row key, unit): unit as in ``format_value``, or "text".
    columns: list[tuple[str, str, str]]
    rows: list[dict[str, Any]]
    link: Callable[[dict[str, Any]], str | None] | None = None
    note: str = ""
    limit: int | None = None
    # What the drill-down link lists ("12 calls"), so the link says where it goes.
    link_label: Callable[[dict[str, Any]], str] | None = None

    def cells(self) -> list[tuple[list[str], str | None, str]]:
        shown = self.rows[: self.limit] if self.limit else self.rows
        return [
            (
                [_cell(row.get(key), unit) for _, key, unit in self.columns],
                self._link(row),
                self.link_label(row) if self.link_label else "details",
            )
            for row in shown
        ]

    def _link(self, row: dict[str, Any]) -> str | None:
        return self.link(row) if self.link else None

    @property
    def truncated(self) -> bool:
        return bool(self.limit and len(self.rows) > self.limit)


@dataclass
class Page:
    metrics: list[Metric] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[tuple[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _cell(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "text":
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M UTC")
        return str(value)
    if isinstance(value, Decimal):
        value = float(value)
    return format_value(value, unit)


def counted(n: int | None, noun: str, plural: str | None = None) -> str:
    """ "1 call", "12 calls", "1,204 slots": a drill link named by what it lists."""
    n = n or 0
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _raw(value: Any) -> Any:
    """CSV cells: raw numbers (no units), ISO dates, blanks for missing values."""
    if value is None:
        return ""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def drill_url(key: str, f: KpiFilters, **params: Any) -> str:
    return f"{reverse('kpi:drill', args=[key])}?{f.query(**params)}"


# --- page builders: each returns what its template shows -------------------------------------


def _access(f: KpiFilters) -> Page:
    summary = selectors.access_summary(f)
    return Page(
        metrics=summary.metrics,
        charts=[
            ("Calls per day", bar_chart(summary.calls_per_day, title="Calls per day")),
            ("Bookings per day", bar_chart(summary.bookings_per_day, title="Bookings per day")),
        ],
        tables=[
            Table(
                "by_agent",
                "Calls by agent",
                [
                    ("Agent", "agent", "text"),
                    ("Calls", "calls", "count"),
                    ("Average handle time", "aht_seconds", "seconds"),
                    ("Calls that booked", "booked", "count"),
                    ("Booked share", "booked_share", "percent"),
                ],
                summary.agents,
                link=lambda r: drill_url("calls", replace(f, agent_id=r["agent_id"])),
                link_label=lambda r: counted(r["calls"], "call"),
            ),
            Table(
                "by_channel",
                "Bookings by channel",
                [
                    ("Channel", "label", "text"),
                    ("Bookings", "bookings", "count"),
                    ("Share", "share", "percent"),
                ],
                summary.channels,
                link=lambda r: drill_url("bookings", f, channel=channel_param(r["channel"])),
                link_label=lambda r: counted(r["bookings"], "booking"),
            ),
        ],
    )


def _accuracy(f: KpiFilters) -> Page:
    summary = selectors.accuracy_summary(f)
    breakdown = summary.mismatch_kinds
    return Page(
        metrics=summary.metrics,
        tables=[
            Table(
                "by_location",
                "Accuracy by location (bookings created in the period)",
                [
                    ("Location", "location", "text"),
                    ("Bookings", "bookings", "count"),
                    ("Wrong-location", "wrong", "count"),
                    ("Wrong-location rate", "wrong_rate", "percent"),
                    ("Now cancelled", "cancelled", "count"),
                    ("Now rescheduled", "rescheduled", "count"),
                    ("No-shows", "no_show", "count"),
                ],
                summary.by_location,
                link=lambda r: drill_url(
                    "wrong_location", replace(f, location_id=r["location_id"])
                ),
                link_label=lambda r: counted(r["wrong"], "wrong-location booking"),
            ),
            Table(
                "mismatch_kinds",
                "Provider-patient mismatches by kind (a booking can have several)",
                [("Kind", "kind", "text"), ("Bookings", "count", "count")],
                [
                    {"kind": "Age outside the provider's range", "count": breakdown["age"]},
                    {"kind": "No shared language", "count": breakdown["language"]},
                    {"kind": "Cancelled as wrong provider", "count": breakdown["wrong_provider"]},
                ],
                link=lambda r: drill_url("mismatch", f),
                link_label=lambda r: "all mismatched bookings",
            ),
        ],
    )


def _capacity(f: KpiFilters) -> Page:
    by_day = selectors.utilization_by_day(f)
    tna = selectors.third_next_available(f)
    chart_title, chart_rows = "Slot utilization per day", by_day
    if not any(r["slots"] for r in by_day):
        # A past period has no slots (they are materialized forward): an empty chart says
        # nothing, the fill of the schedule ahead is what an ops manager acts on.
        chart_title = (
            f"Schedule fill per day, next {selectors.SCHEDULE_FILL_DAYS} days "
            "(no slots in the chosen period)"
        )
        chart_rows = selectors.schedule_fill_by_day(f)
    return Page(
        metrics=selectors.capacity_metrics(f),
        charts=[
            (
                chart_title,
                bar_chart(
                    [(r["day"], r["utilization"]) for r in chart_rows],
                    title=chart_title,
                    unit="percent",
                    max_value=100,
                ),
            )
        ],
        tables=[
            Table(
                "third_available",
                "Third next available appointment (as of now)",
                [
                    ("Appointment type", "appointment_type", "text"),
                    ("Location", "location", "text"),
                    ("Third free slot", "third_start", "text"),
                    ("Days out", "days_out", "days"),
                    ("Note", "note", "text"),
                ],
                [
                    {**t.__dict__, "third_start": local_time(t.third_start, t.time_zone)}
                    if t.third_start
                    else t.__dict__
                    for t in tna
                ],
                link=lambda r: drill_url(
                    "free_slots",
                    replace(
                        f,
                        location_id=r["location_id"],
                        appointment_type_id=r["appointment_type_id"],
                    ),
                ),
                note=selectors.DEF_TNA + " Times are each location's own.",
                link_label=lambda r: "free slots",
                limit=150,
            ),
            _utilization_table(
                "by_location",
                "Utilization by location",
                ("Location", "location__name"),
                selectors.utilization_by_location(f),
                lambda r: drill_url("booked_slots", replace(f, location_id=r["location_id"])),
            ),
            _utilization_table(
                "by_provider",
                "Utilization by provider",
                ("Provider", "provider_name"),
                [
                    {
                        **r,
                        "provider_name": f"{r['provider__last_name']}, {r['provider__first_name']}",
                    }
                    for r in selectors.utilization_by_provider(f)
                ],
                lambda r: drill_url("booked_slots", f, provider=r["provider_id"]),
                limit=100,
            ),
            _utilization_table(
                "by_day",
                "Utilization by day",
                ("Day", "day"),
                by_day,
                lambda r: (
                    drill_url("booked_slots", replace(f, date_from=r["day"], date_to=r["day"]))
                    if r["slots"]
                    else None
                ),
            ),
        ],
    )


def _one_day(f: KpiFilters, row: dict[str, Any]) -> str:
    return drill_url("booked_slots", replace(f, date_from=row["day"], date_to=row["day"]))


def _utilization_table(
    key: str,
    title: str,
    label: tuple[str, str],
    rows: list[dict[str, Any]],
    link: Callable[[dict[str, Any]], str | None] | None,
    limit: int | None = None,
) -> Table:
    return Table(
        key,
        title,
        [
            (label[0], label[1], "text"),
            ("Bookable slots", "slots", "count"),
            ("Booked", "booked", "count"),
            ("Utilization", "utilization", "percent"),
        ],
        rows,
        link=link,
        limit=limit,
        link_label=lambda r: counted(r["slots"], "slot"),
    )


def _revenue(f: KpiFilters) -> Page:
    ar = revenue.open_ar(f)
    denial_columns = [
        ("Name", "name", "text"),
        ("Adjudicated", "adjudicated", "count"),
        ("Denied", "denied", "count"),
        ("Denial rate", "denial_rate", "percent"),
    ]
    return Page(
        metrics=revenue.revenue_metrics(f),
        tables=[
            Table(
                "open_ar",
                "Open A/R now (submitted or accepted, not yet adjudicated)",
                [
                    ("Claims", "claims", "count"),
                    ("Balance", "balance", "money"),
                    ("Average age", "age_days", "days"),
                ],
                [ar] if ar["claims"] else [],
            ),
            Table(
                "denials_by_reason",
                "Denials by reason (CAS on denied claims and their lines; a claim with several "
                "reasons counts under each)",
                [
                    ("Reason", "reason", "text"),
                    ("Claims", "claims", "count"),
                    ("Amount", "amount", "money"),
                ],
                revenue.denials_by_reason(f),
                link=lambda r: drill_url("denied_claims", f, reason=r["example"]),
                link_label=lambda r: counted(r["claims"], "denied claim"),
            ),
            Table(
                "denials_by_payer",
                "Denials by payer",
                denial_columns,
                revenue.denials_by(f, "payer"),
                link=lambda r: drill_url("denied_claims", f, payer=r["id"]),
                link_label=lambda r: counted(r["denied"], "denied claim"),
            ),
            Table(
                "denials_by_location",
                "Denials by location",
                denial_columns,
                revenue.denials_by(f, "location"),
                link=lambda r: drill_url("denied_claims", replace(f, location_id=r["id"])),
                link_label=lambda r: counted(r["denied"], "denied claim"),
            ),
        ],
    )


def _integrations(f: KpiFilters) -> Page:
    return Page(
        metrics=integration.integration_metrics(f),
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
                integration.connector_health(f),
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
                integration.outbox_summary(f),
                link=lambda r: drill_url("dead_outbox", f) if r["status"] == "dead" else None,
                link_label=lambda r: counted(r["events"], "dead event"),
            ),
        ],
    )


OVERVIEW_KEYS = {
    "calls",
    "bookings",
    "fcr",
    "aht",
    "automation",
    "wrong_location",
    "no_show",
    "utilization",
    "eligibility_failures",
    "denials",
    "dead_letters",
}


def _overview(f: KpiFilters) -> Page:
    metrics = (
        selectors.access_metrics(f)
        + selectors.accuracy_summary(f, with_mismatch=False).metrics
        + selectors.capacity_metrics(f)
        + revenue.revenue_metrics(f)
        + integration.integration_metrics(f)
    )
    return Page(metrics=[m for m in metrics if m.key in OVERVIEW_KEYS])


BUILDERS: dict[str, Callable[[KpiFilters], Page]] = {
    "overview": _overview,
    "access": _access,
    "accuracy": _accuracy,
    "capacity": _capacity,
    "revenue": _revenue,
    "integrations": _integrations,
}


def _metrics_table(metrics: list[Metric]) -> Table:
    return Table(
        "metrics",
        "Metrics",
        [
            ("Metric", "label", "text"),
            ("Value", "value", "text"),
            ("Previous period", "previous", "text"),
            ("Numerator", "numerator", "text"),
            ("Denominator", "denominator", "text"),
            ("Unit", "unit", "text"),
            ("Definition", "definition", "text"),
        ],
        [
            {
                "label": m.label,
                "value": m.value,
                "previous": m.previous,
                "numerator": m.numerator,
                "denominator": m.denominator,
                "unit": m.unit,
                "definition": m.no_source or m.definition,
            }
            for m in metrics
        ],
    )


def _csv_response(name: str, f: KpiFilters, header: list[str], rows: Any) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    filename = f"kpi-{name}-{f.date_from.isoformat()}-{f.date_to.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@contextmanager
def _analytics_session() -> Iterator[None]:
    """One read transaction per page, with PostgreSQL's JIT off inside it.

    These aggregates cost enough to cross ``jit_above_cost``, and compiling them took
    about 370 ms of a 660 ms query on the 1.3M-row benchmark network while the
    execution itself took under 300 ms. SET LOCAL ends with the transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                # Room for the planner to hash-aggregate ~100k rows in memory instead of
                # sorting them through temporary files.
                cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


def _filters_or_errors(request: HttpRequest) -> tuple[KpiFilterForm, KpiFilters | None]:
    data = request.GET.copy()
    if not data.get("date_from") and not data.get("date_to"):
        # Show the default period in the date pickers rather than empty fields.
        defaults = default_filters()
        data["date_from"] = defaults.date_from.isoformat()
        data["date_to"] = defaults.date_to.isoformat()
    if not data.get("accuracy_days"):
        data["accuracy_days"] = str(DEFAULT_ACCURACY_DAYS)
    form = KpiFilterForm(data)
    return form, form.filters() if form.is_valid() else None


@require_GET
@permission_required(VIEW_KPI, raise_exception=True)
def kpi_page(request: HtmxHttpRequest, section: str = "overview") -> HttpResponse:
    if section not in BUILDERS:
        raise Http404("No such KPI page.")
    form, f = _filters_or_errors(request)
    context: dict[str, Any] = {
        "form": form,
        "section": section,
        "sections": SECTIONS,
        "title": dict(SECTIONS)[section],
    }
    if f is None:
        return render_page(request, "kpi/page.html", context, partial="content", status=400)
    with _analytics_session():
        page = BUILDERS[section](f)
    export = request.GET.get("export")
    if export:
        tables = {t.key: t for t in [*page.tables, _metrics_table(page.metrics)]}
        table = tables.get(export)
        if table is None:
            raise Http404("No such table on this page.")
        return _csv_response(
            f"{section}-{table.key}",
            f,
            [c[0] for c in table.columns],
            ([_raw(row.get(key)) for _, key, _unit in table.columns] for row in table.rows),
        )
    context.update(
        filters=f,
        previous=f.previous(),
        query=f.query(),
        cards=[_card(m, f) for m in page.metrics],
        tables=page.tables,
        charts=page.charts,
    )
    return render_page(request, "kpi/page.html", context, partial="content")


def _card(metric: Metric, f: KpiFilters) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": format_value(metric.value, metric.unit),
        "previous": format_value(metric.previous, metric.unit),
        "delta": format_delta(metric),
        "ratio": (
            f"{metric.numerator:,} of {metric.denominator:,}"
            if metric.denominator and metric.numerator is not None
            else ""
        ),
        "drill": drill_url(metric.drill, f, **metric.drill_params) if metric.drill else None,
    }


@require_GET
@permission_required(VIEW_KPI, raise_exception=True)
def kpi_drill(request: HttpRequest, key: str) -> HttpResponse:
    drill = DRILLS.get(key)
    if drill is None:
        raise Http404("No such drill-down.")
    form, f = _filters_or_errors(request)
    if f is None:
        return render(
            request, "kpi/drill.html", {"form": form, "drill": drill, "key": key}, status=400
        )
    params = {p: int(v) for p in DRILL_PARAMS if (v := request.GET.get(p, "")).isdigit()}
    if params.get("channel", 0) >= len(Appointment.Channel.values):
        raise Http404("No such channel.")
    show_phi = request.user.has_perm(VIEW_PHI)
    columns = visible_columns(drill, show_phi)
    rows_qs = drill.rows(f, params)
    if request.GET.get("format") == "csv":
        with _analytics_session():
            rows = list(rows_qs[:MAX_EXPORT_ROWS])
        if show_phi:
            _audit_patients(request, drill, rows, key)
        return _csv_response(
            f"drill-{key}",
            f,
            [c.header for c in columns],
            ([_raw(c.get(r)) for c in columns] for r in rows),
        )
    try:
        page_number = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page_number = 1
    offset = (page_number - 1) * PAGE_SIZE
    with _analytics_session():
        total = rows_qs.count()
        rows = list(rows_qs[offset : offset + PAGE_SIZE])
    if show_phi:
        _audit_patients(request, drill, rows, key)
    query = f.query(**params)
    return render(
        request,
        "kpi/drill.html",
        {
            "form": form,
            "drill": drill,
            "key": key,
            "filters": f,
            "headers": [c.header for c in columns],
            "rows": [[c.get(r) for c in columns] for r in rows],
            "total": total,
            "page": page_number,
            "offset": offset,
            "last_row": offset + len(rows),
            "has_next": offset + PAGE_SIZE < total,
            "query": query,
            "show_phi": show_phi,
            "params": params,
        },
    )


def _audit_patients(request: HttpRequest, drill: Any, rows: list[Any], key: str) -> None:
    """Patient names were shown or exported: one access entry per patient, like the console."""
    if drill.patient_id is None:
        return
    patient_ids = sorted({pid for r in rows if (pid := drill.patient_id(r)) is not None})
    if not patient_ids:
        return
    content_type = ContentType.objects.get_for_model(Patient)
    LogEntry.objects.bulk_create(
        [
            LogEntry(
                content_type=content_type,
                object_pk=str(pid),
                object_id=pid,
                object_repr=f"Patient #{pid}",
                action=LogEntry.Action.ACCESS,
                actor=request.user if request.user.is_authenticated else None,
                remote_addr=request.META.get("REMOTE_ADDR"),
                additional_data={"via": "kpi drill-down", "drill": key},
            )
            for pid in patient_ids
        ]
    )
