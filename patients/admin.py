from __future__ import annotations

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from auditlog.signals import accessed
from django import forms
from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from config.admin_search import PrivateSearchAdminMixin

from . import models as m
from .validation import registration_errors


class PatientAdminForm(forms.ModelForm):
    """The admin edits patients directly: the registration rules hold here too. (No
    Meta: the admin builds it from the ModelAdmin's fields.)"""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name, messages in registration_errors(data).items():
            for message in messages:
                self.add_error(name, message)
        return data


class IdentifierInline(admin.TabularInline):
    model = m.PatientIdentifier
    extra = 0


class CoverageInline(admin.TabularInline):
    model = m.Coverage
    extra = 0


class ClinicalFactInline(admin.TabularInline):
    model = m.ClinicalFact
    extra = 0


@admin.register(m.Patient)
class PatientAdmin(PrivateSearchAdminMixin, AuditlogHistoryAdminMixin, admin.ModelAdmin):
    show_auditlog_history_link = True
    form = PatientAdminForm

    list_display = [
        "id",
        "last_name",
        "first_name",
        "date_of_birth",
        "phone",
        "home_location",
        "status",
    ]
    list_filter = ["status", "home_location__region", "home_location", "preferred_language"]
    search_fields = [
        "last_name",
        "first_name",
        "phone",
        "identifiers__value",
        "coverages__member_id",
    ]
    raw_id_fields = ["merged_into"]
    inlines = [IdentifierInline, CoverageInline, ClinicalFactInline]
    list_select_related = ["home_location"]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        # Opening a patient's record in admin is a PHI access, like the console panel.
        if request.method == "GET" and response.status_code == 200:
            patient = self.get_object(request, object_id)
            if patient is not None:
                accessed.send(sender=m.Patient, instance=patient)
        return response


@admin.register(m.PatientIdentifier)
class PatientIdentifierAdmin(PrivateSearchAdminMixin, admin.ModelAdmin):
    list_display = ["system", "kind", "value", "patient", "location"]
    list_filter = ["system", "kind"]
    search_fields = ["value"]
    raw_id_fields = ["patient"]


@admin.register(m.Coverage)
class CoverageAdmin(PrivateSearchAdminMixin, AuditlogHistoryAdminMixin, admin.ModelAdmin):
    show_auditlog_history_link = True
    form = PatientAdminForm

    list_display = ["patient", "plan", "member_id", "priority", "active"]
    list_filter = ["plan__payer", "priority", "active"]
    search_fields = ["member_id", "patient__last_name"]
    raw_id_fields = ["patient"]


@admin.register(m.ClinicalFact)
class ClinicalFactAdmin(admin.ModelAdmin):
    list_display = [
        "patient",
        "kind",
        "description",
        "requires_equipment",
        "source_system",
        "active",
    ]
    list_filter = ["kind", "active", "requires_equipment"]
    search_fields = ["description", "code"]
    raw_id_fields = ["patient"]


@admin.register(m.DuplicateCandidate)
class DuplicateCandidateAdmin(admin.ModelAdmin):
    list_display = ["patient_a", "patient_b", "score", "reason", "status"]
    list_filter = ["status"]
    raw_id_fields = ["patient_a", "patient_b"]


@admin.register(m.PatientMerge)
class PatientMergeAdmin(admin.ModelAdmin):
    list_display = ["survivor", "merged", "merged_at", "reversed_at"]
    raw_id_fields = ["survivor", "merged"]
    readonly_fields = ["snapshot"]
