from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import models as m


class ReadOnlyLedgerMixin:
    """Eligibility answers and remittances are what the payer said (parsed from a 271 or
    an 835): append-only from the wire. Adding one by hand would post money or coverage
    nobody sent, deleting one would hide what they did, so admin shows them read-only."""

    model: Any

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "id"]


class PlanInline(admin.TabularInline):
    model = m.Plan
    extra = 0


@admin.register(m.Payer)
class PayerAdmin(admin.ModelAdmin):
    list_display = ["name", "payer_code", "max_requests_per_minute", "active"]
    search_fields = ["name", "payer_code"]
    inlines = [PlanInline]


class ParticipationInline(admin.TabularInline):
    model = m.NetworkParticipation
    extra = 0
    autocomplete_fields = ["location", "provider"]


@admin.register(m.Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ["name", "payer", "kind", "code"]
    list_filter = ["payer", "kind"]
    search_fields = ["name", "code", "payer__name"]
    inlines = [ParticipationInline]


@admin.register(m.NetworkParticipation)
class NetworkParticipationAdmin(admin.ModelAdmin):
    list_display = [
        "plan",
        "location",
        "provider",
        "in_network",
        "effective_from",
        "effective_until",
    ]
    list_filter = ["plan__payer", "plan", "in_network"]
    autocomplete_fields = ["location", "provider"]


@admin.register(m.FeeSchedule)
class FeeScheduleAdmin(admin.ModelAdmin):
    list_display = ["payer", "procedure_code", "amount"]
    list_filter = ["payer"]
    search_fields = ["procedure_code"]


@admin.register(m.EligibilityCheck)
class EligibilityCheckAdmin(ReadOnlyLedgerMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "coverage",
        "status",
        "requested_at",
        "responded_at",
        "copay",
        "deductible_remaining",
    ]
    list_filter = ["status"]
    raw_id_fields = ["coverage", "appointment", "message"]


class DiagnosisInline(admin.TabularInline):
    model = m.Diagnosis
    extra = 0


class ChargeInline(admin.TabularInline):
    model = m.Charge
    extra = 0


@admin.register(m.Encounter)
class EncounterAdmin(admin.ModelAdmin):
    list_display = [
        "encounter_number",
        "patient",
        "provider",
        "location",
        "date_of_service",
        "status",
    ]
    list_filter = ["status", "location"]
    search_fields = ["encounter_number"]
    raw_id_fields = ["appointment", "patient", "provider", "location"]
    inlines = [DiagnosisInline, ChargeInline]


class FindingInline(admin.TabularInline):
    model = m.ClaimFinding
    extra = 0


class HistoryInline(admin.TabularInline):
    model = m.ClaimStatusHistory
    extra = 0
    readonly_fields = ["status", "note", "at"]


@admin.register(m.Claim)
class ClaimAdmin(admin.ModelAdmin):
    list_display = ["claim_number", "payer", "status", "total_charge", "paid_amount", "created_at"]
    list_filter = ["status", "payer"]
    search_fields = ["claim_number"]
    raw_id_fields = ["encounter", "coverage", "batch"]
    inlines = [FindingInline, HistoryInline]


@admin.register(m.ClaimBatch)
class ClaimBatchAdmin(admin.ModelAdmin):
    list_display = [
        "interchange_control_number",
        "created_at",
        "claim_count",
        "total_charge",
        "ack_status",
    ]


class AdjustmentInline(ReadOnlyLedgerMixin, admin.TabularInline):
    model = m.Adjustment
    extra = 0


@admin.register(m.RemittanceClaim)
class RemittanceClaimAdmin(ReadOnlyLedgerMixin, admin.ModelAdmin):
    list_display = ["clp01", "claim", "status_code", "charge", "paid"]
    list_filter = ["status_code"]
    search_fields = ["clp01"]
    raw_id_fields = ["remittance", "claim"]
    inlines = [AdjustmentInline]


@admin.register(m.Remittance)
class RemittanceAdmin(ReadOnlyLedgerMixin, admin.ModelAdmin):
    list_display = ["trace_number", "payer", "total_paid", "payment_date", "received_at"]
    list_filter = ["payer"]
    search_fields = ["trace_number"]


@admin.register(m.DiagnosisProcedureRule)
class DiagnosisProcedureRuleAdmin(admin.ModelAdmin):
    list_display = ["procedure_prefix", "diagnosis_prefixes", "description", "active"]
    list_filter = ["active"]
    search_fields = ["procedure_prefix", "description"]


@admin.register(m.EligibilityBatchRun)
class EligibilityBatchRunAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "finished_at",
        "days",
        "status",
        "total",
        "checked",
        "skipped",
        "active",
        "inactive",
        "errors",
    ]
    list_filter = ["status"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(m.ControlNumber)
class ControlNumberAdmin(admin.ModelAdmin):
    list_display = ["name", "last_value"]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        # Rewinding ISA13 would make clearinghouses reject our files as duplicates.
        return False
