"""KPI pages: thin views over the registered sections and drill-downs; htmx swaps the
page's #content partial."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth.decorators import permission_required
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connections, transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.audit import audit_access_by_id
from config.csv_export import csv_response
from config.db_router import replica_reads
from config.htmx import HtmxHttpRequest, render_page
from config.inputs import parse_id
from config.permissions import VIEW_KPI, VIEW_PATIENT
from patients.models import Patient
from scheduling.models import Appointment

from .drill import DRILL_PARAMS, visible_columns
from .filters import DEFAULT_ACCURACY_DAYS, KpiFilterForm, KpiFilters, default_filters
from .metrics import Metric, format_delta, format_value
from .registry import DRILLS, SECTIONS, Drill, sections
from .tables import Table, csv_cell, drill_url

PAGE_SIZE = 100
MAX_EXPORT_ROWS = 100_000


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
    filename = f"kpi-{name}-{f.date_from.isoformat()}-{f.date_to.isoformat()}.csv"
    return csv_response(filename, header, rows)


@contextmanager
def _analytics_session() -> Iterator[None]:
    """One read transaction per page, on the read replica when there is one
    (``config.db_router``), with PostgreSQL's JIT off inside it.

    These aggregates cost enough to cross ``jit_above_cost``, and compiling them took
    about 370 ms of a 660 ms query on the 1.3M-row benchmark network while the
    execution itself took under 300 ms. SET LOCAL ends with the transaction.
    """
    with replica_reads() as alias, transaction.atomic(using=alias):
        connection = connections[alias]
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
    page_section = SECTIONS.get(section)
    if page_section is None:
        raise Http404("No such KPI page.")
    form, f = _filters_or_errors(request)
    context: dict[str, Any] = {
        "form": form,
        "section": section,
        "sections": [(s.key, s.title) for s in sections()],
        "title": page_section.title,
    }
    if f is None:
        return render_page(request, "kpi/page.html", context, partial="content", status=400)
    with _analytics_session():
        page = page_section.build(f)
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
            ([csv_cell(row.get(key)) for _, key, _unit in table.columns] for row in table.rows),
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
    params = {
        p: n for p in DRILL_PARAMS if (n := parse_id(request.GET.get(p, ""), zero=True)) is not None
    }
    if params.get("channel", 0) >= len(Appointment.Channel.values):
        raise Http404("No such channel.")
    show_phi = request.user.has_perm(VIEW_PATIENT)
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
            ([csv_cell(c.get(r)) for c in columns] for r in rows),
        )
    paginator = Paginator(rows_qs, PAGE_SIZE)
    with _analytics_session():
        try:
            page = paginator.page(request.GET.get("page", "1"))
        except PageNotAnInteger:
            page = paginator.page(1)
        except EmptyPage:
            # Past the last page (or before the first): nothing there, and no offset
            # the database would have to skip to find that out.
            raise Http404("No such page.") from None
        total = paginator.count
        rows = list(page.object_list)
    page_number, offset = page.number, (page.number - 1) * PAGE_SIZE
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
            "has_next": page.has_next(),
            "query": query,
            "show_phi": show_phi,
            "params": params,
        },
    )


def _audit_patients(request: HttpRequest, drill: Drill, rows: list[Any], key: str) -> None:
    """Patient names were shown or exported: one access entry per patient, like the console."""
    if drill.patient_id is None:
        return
    patient_ids = sorted({pid for r in rows if (pid := drill.patient_id(r)) is not None})
    if not patient_ids:
        return
    audit_access_by_id(
        actor=request.user if request.user.is_authenticated else None,
        model=Patient,
        pks=patient_ids,
        additional_data={"via": "kpi drill-down", "drill": key},
    )
