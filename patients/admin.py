from __future__ import annotations

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from config.admin_search import BlindIndexSearchAdminMixin, PrivateSearchAdminMixin
from config.crypto.fields import blind_index_of

from . import models as m
from .clinical import clinical_need_rule_apply, clinical_need_rule_remove
from .names import patient_match_q
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
class PatientAdmin(
    PrivateSearchAdminMixin,
    BlindIndexSearchAdminMixin,
    AuditlogHistoryAdminMixin,
    admin.ModelAdmin,
):
    show_auditlog_history_link = True
    # The name, DOB and phone columns are ciphertext: the database cannot sort them.
    sortable_by = ["id", "home_location", "status"]
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
    readonly_fields = ["birth_year"]
    inlines = [IdentifierInline, CoverageInline, ClinicalFactInline]
    list_select_related = ["home_location"]

    def blind_search_q(self, term: str) -> Q:
        return patient_match_q(term)


@admin.register(m.PatientIdentifier)
class PatientIdentifierAdmin(PrivateSearchAdminMixin, BlindIndexSearchAdminMixin, admin.ModelAdmin):
    list_display = ["system", "kind", "value", "patient", "location"]
    list_filter = ["system", "kind"]
    search_fields = ["value"]
    sortable_by = ["system", "kind", "location"]
    raw_id_fields = ["patient"]

    def blind_search_q(self, term: str) -> Q:
        return Q(value_bidx=blind_index_of(m.PatientIdentifier, "value_bidx", term.strip()))


@admin.register(m.Coverage)
class CoverageAdmin(
    PrivateSearchAdminMixin,
    BlindIndexSearchAdminMixin,
    AuditlogHistoryAdminMixin,
    admin.ModelAdmin,
):
    show_auditlog_history_link = True
    form = PatientAdminForm

    list_display = ["patient", "plan", "member_id", "priority", "active"]
    list_filter = ["plan__payer", "priority", "active"]
    search_fields = ["member_id", "patient__last_name"]
    sortable_by = ["plan", "priority", "active"]
    raw_id_fields = ["patient"]

    def blind_search_q(self, term: str) -> Q:
        member = blind_index_of(m.Coverage, "member_id_bidx", term.strip())
        return Q(member_id_bidx=member) | patient_match_q(term, via="patient__")


@admin.register(m.ClinicalFact)
class ClinicalFactAdmin(admin.ModelAdmin):
    list_display = [
        "patient",
        "kind",
        "description",
        "requires_equipment",
        "source_system",
        "status",
        "recorded_at",
    ]
    list_filter = ["kind", "status", "requires_equipment", "need_rule"]
    # Description and code are encrypted; the list filters narrow instead of a search.
    sortable_by = ["kind", "requires_equipment", "source_system", "status", "recorded_at"]
    raw_id_fields = ["patient"]
    readonly_fields = ["code_system", "need_rule", "origin_connector_id"]


@admin.register(m.ClinicalNeedRule)
class ClinicalNeedRuleAdmin(admin.ModelAdmin):
    """The mapping from EHR codes to what routing enforces. Saving re-points the facts
    already on file, so a new rule applies at once, not only to records that arrive later."""

    list_display = ["code", "code_system", "description", "requires_equipment", "provider_alert"]
    list_filter = ["active", "requires_equipment"]
    search_fields = ["code", "description"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        clinical_need_rule_apply(rule=obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        clinical_need_rule_remove(rule=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for rule in queryset:
            clinical_need_rule_remove(rule=rule)


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
