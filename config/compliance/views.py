"""The compliance officer's accounting of disclosures: one patient, by id, over POST.

The patient is chosen by id in a POST body, so nothing identifying reaches a URL or a
log. Looking at the accounting shows the patient's record history, so it is itself an
audited access, and so is the CSV export.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from config.audit import audit_access_by_id
from config.permissions import VIEW_DISCLOSURES

from .csv import csv_cell
from .selectors import disclosure_rows, disclosures, patient_model

PAGE_LIMIT = 500
ERR_NO_PATIENT = "No patient has this id."
CSV_HEADER = [
    "when (UTC)",
    "user",
    "role",
    "action",
    "record",
    "fields",
    "surface",
    "detail",
    "address",
]


class DisclosureForm(forms.Form):
    patient_id = forms.IntegerField(min_value=1, label="Patient id")
    since = forms.DateField(required=False, label="From (UTC day)")
    until = forms.DateField(required=False, label="To (UTC day, inclusive)")

    def clean_patient_id(self) -> int:
        patient_id = self.cleaned_data["patient_id"]
        if not patient_model()._default_manager.filter(pk=patient_id).exists():
            raise forms.ValidationError(ERR_NO_PATIENT)
        return int(patient_id)

    def window(self) -> tuple[datetime | None, datetime | None]:
        since, until = self.cleaned_data.get("since"), self.cleaned_data.get("until")
        return (
            datetime.combine(since, time.min, tzinfo=UTC) if since else None,
            datetime.combine(until, time.min, tzinfo=UTC) + timedelta(days=1) if until else None,
        )


@permission_required(VIEW_DISCLOSURES, raise_exception=True)
@require_http_methods(["GET", "POST"])
def disclosures_page(request: HttpRequest) -> HttpResponse:
    form = DisclosureForm(request.POST or None)
    context: dict[str, object] = {"form": form}
    if request.method == "POST":
        if not form.is_valid():
            return render(request, "compliance/disclosures.html", context, status=400)
        patient_id = form.cleaned_data["patient_id"]
        since, until = form.window()
        entries = disclosures(patient_id=patient_id, since=since, until=until)
        total = entries.count()
        context.update(
            patient_id=patient_id,
            total=total,
            rows=list(disclosure_rows(entries[:PAGE_LIMIT])),
            limited=total > PAGE_LIMIT,
        )
        audit_access_by_id(
            actor=request.user,
            model=patient_model(),
            pks=[patient_id],
            additional_data={"accounting": "viewed"},
        )
    return render(request, "compliance/disclosures.html", context)


@permission_required(VIEW_DISCLOSURES, raise_exception=True)
@require_POST
def disclosures_export(request: HttpRequest) -> HttpResponseBase:
    form = DisclosureForm(request.POST)
    if not form.is_valid():
        return render(request, "compliance/disclosures.html", {"form": form}, status=400)
    patient_id = form.cleaned_data["patient_id"]
    since, until = form.window()
    rows = disclosure_rows(disclosures(patient_id=patient_id, since=since, until=until))
    audit_access_by_id(
        actor=request.user,
        model=patient_model(),
        pks=[patient_id],
        additional_data={"accounting": "exported"},
        surface="compliance.export",
    )

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(CSV_HEADER)
        for row in rows:
            yield writer.writerow(
                [
                    csv_cell(v)
                    for v in (
                        row.when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                        row.who,
                        row.role,
                        row.action,
                        row.record,
                        row.fields,
                        row.surface,
                        row.detail,
                        row.address,
                    )
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    # A file name of the id only: no name or date of birth on the user's disk listing.
    response["Content-Disposition"] = f'attachment; filename="disclosures-{patient_id}.csv"'
    response["Cache-Control"] = "no-store"
    return response
