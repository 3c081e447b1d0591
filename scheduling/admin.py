from __future__ import annotations

from typing import Any

from auditlog.mixins import AuditlogHistoryAdminMixin
from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import HttpRequest

from config.admin_search import BlindIndexSearchAdminMixin, PrivateSearchAdminMixin
from patients.names import patient_match_q

from . import models as m
from .rules.registry import RULES
from .templatetags.hubtime import at_location


@admin.display(description="Local start", ordering="start")
def local_start(obj: m.Slot | m.Appointment) -> str:
    return at_location(obj.start, obj.location)


class LocationHoursInline(admin.TabularInline):
    model = m.LocationHours
    extra = 0


class LocationClosureInline(admin.TabularInline):
    model = m.LocationClosure
    extra = 0


class RoomInline(admin.TabularInline):
    model = m.Room
    extra = 0
    filter_horizontal = ["equipment"]


@admin.register(m.Region)
class RegionAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(m.Equipment)
class EquipmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(m.Capability)
class CapabilityAdmin(admin.ModelAdmin):
    list_display = ["name", "code"]
    search_fields = ["name", "code"]


@admin.register(m.Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "region", "city", "state", "time_zone", "active"]
    list_filter = ["region", "time_zone", "active", "equipment"]
    search_fields = ["name", "code", "city", "zip_code"]
    filter_horizontal = ["equipment"]
    inlines = [LocationHoursInline, LocationClosureInline, RoomInline]


class ScheduleTemplateInline(admin.TabularInline):
    model = m.ScheduleTemplate
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = m.TimeOff
    extra = 0


class ProviderLicenseInline(admin.TabularInline):
    model = m.ProviderLicense
    extra = 0


@admin.register(m.ProviderLicense)
class ProviderLicenseAdmin(admin.ModelAdmin):
    list_display = ["provider", "state", "number", "valid_until"]
    list_filter = ["state"]
    search_fields = ["provider__last_name", "provider__npi", "number"]
    autocomplete_fields = ["provider"]


@admin.register(m.Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "npi",
        "credential",
        "accepts_new_patients",
        "min_patient_age",
        "max_patient_age",
        "active",
    ]
    list_filter = ["active", "accepts_new_patients", "capabilities", "locations__region"]
    search_fields = ["last_name", "first_name", "npi"]
    filter_horizontal = ["capabilities", "locations"]
    inlines = [ScheduleTemplateInline, TimeOffInline, ProviderLicenseInline]


@admin.register(m.AppointmentType)
class AppointmentTypeAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "duration_minutes",
        "patient_status",
        "telehealth",
        "assistant_capability",
        "mobile_equipment",
        "active",
    ]
    list_filter = [
        "active",
        "telehealth",
        "patient_status",
        "required_equipment",
        "required_capabilities",
    ]
    search_fields = ["name", "code"]
    filter_horizontal = ["required_capabilities", "required_equipment"]


@admin.register(m.ScheduleTemplate)
class ScheduleTemplateAdmin(admin.ModelAdmin):
    list_display = [
        "provider",
        "location",
        "weekday",
        "start_time",
        "end_time",
        "slot_minutes",
        "active",
    ]
    list_filter = ["weekday", "location", "active"]
    search_fields = ["provider__last_name", "location__name"]
    autocomplete_fields = ["provider", "location"]


@admin.register(m.TimeOff)
class TimeOffAdmin(admin.ModelAdmin):
    list_display = ["provider", "starts_at", "ends_at", "reason"]
    search_fields = ["provider__last_name"]
    autocomplete_fields = ["provider"]


@admin.register(m.Slot)
class SlotAdmin(admin.ModelAdmin):
    list_display = ["provider", "location", local_start, "status"]
    list_filter = ["status", "location"]
    search_fields = ["provider__last_name"]
    date_hierarchy = "start"
    list_select_related = ["provider", "location"]
    raw_id_fields = ["provider", "location", "template"]


@admin.register(m.Hold)
class HoldAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "slot",
        "held_by",
        "created_at",
        "expires_at",
        "released_at",
        "consumed_at",
    ]
    list_filter = ["held_by"]
    raw_id_fields = ["slot", "call"]


class AppointmentSlotInline(admin.TabularInline):
    model = m.AppointmentSlot
    extra = 0
    raw_id_fields = ["slot"]

    # Slot units change only with the appointment, through the services (see below).
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return ["slot"]


@admin.register(m.Appointment)
class AppointmentAdmin(
    PrivateSearchAdminMixin,
    BlindIndexSearchAdminMixin,
    AuditlogHistoryAdminMixin,
    admin.ModelAdmin,
):
    show_auditlog_history_link = True

    list_display = [
        "id",
        "patient",
        "appointment_type",
        "provider",
        "location",
        local_start,
        "status",
        "channel",
    ]
    list_filter = [
        "status",
        "channel",
        "location__region",
        "location",
        "appointment_type",
        "cancel_reason",
    ]
    search_fields = ["patient__last_name", "patient__identifiers__value", "provider__last_name"]
    date_hierarchy = "start"
    list_select_related = ["patient", "appointment_type", "provider", "location"]
    raw_id_fields = [
        "patient",
        "provider",
        "location",
        "room",
        "call",
        "rescheduled_from",
        "booked_by",
    ]
    inlines = [AppointmentSlotInline]

    def blind_search_q(self, term: str) -> Q:
        return patient_match_q(term, via="patient__") | Q(provider__last_name__icontains=term)

    # Appointments are booked, moved, cancelled and marked no-show only through
    # scheduling.services: they run the rules engine, the double-booking guard on the slot
    # units, the appointment_changed signal (eligibility, encounters) and the outbox that
    # tells the location system. A save from admin would skip all of that and leave the
    # hub and the PMS disagreeing, so admin cannot add or delete one and shows every field
    # read-only (status included: making status editable would need the same services,
    # and the console already offers cancel/reschedule with a reason). The history link
    # stays for audit.
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: Any, obj: Any = None) -> list[str]:
        return [f.name for f in m.Appointment._meta.fields if f.name != "id"]


@admin.register(m.Waitlist)
class WaitlistAdmin(PrivateSearchAdminMixin, BlindIndexSearchAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "patient",
        "appointment_type",
        "earliest",
        "latest",
        "time_of_day",
        "status",
    ]
    list_filter = ["status", "appointment_type", "time_of_day"]
    search_fields = ["patient__last_name"]
    raw_id_fields = ["patient"]
    filter_horizontal = ["providers", "locations"]

    def blind_search_q(self, term: str) -> Q:
        return patient_match_q(term, via="patient__")


@admin.register(m.Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["id", "agent", "patient", "reason", "started_at", "ended_at", "outcome"]
    list_filter = ["outcome", "agent"]
    date_hierarchy = "started_at"
    raw_id_fields = ["patient"]
    list_select_related = ["agent", "patient"]


class HubRegionInline(admin.TabularInline):
    model = m.HubRegion
    extra = 1


@admin.register(m.Hub)
class HubAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "overflow_to",
        "overflow_enabled",
        "overflow_after_seconds",
        "overflow_queue_length",
        "callback_offer_seconds",
    ]
    inlines = [HubRegionInline]


@admin.register(m.HubLine)
class HubLineAdmin(admin.ModelAdmin):
    list_display = ["number", "label", "region", "urgent"]


@admin.register(m.AgentPresence)
class AgentPresenceAdmin(admin.ModelAdmin):
    list_display = ["user", "hub", "state", "state_since", "current_call"]
    list_filter = ["hub", "state"]
    raw_id_fields = ["current_call"]


class RoutingDecisionInline(admin.TabularInline):
    model = m.RoutingDecision
    extra = 0
    can_delete = False
    fields = ("at", "kind", "hub", "agent", "reason")
    readonly_fields = ("at", "kind", "hub", "agent", "reason")


@admin.register(m.HubCall)
class HubCallAdmin(admin.ModelAdmin):
    """Calls as the platform reported them, with every routing decision and its reason.
    The caller's number stays off the list."""

    list_display = ["id", "sid", "hub", "state", "urgent", "agent", "offered_at", "answered_at"]
    list_filter = ["state", "hub", "urgent"]
    date_hierarchy = "offered_at"
    exclude = ["caller_phone"]
    readonly_fields = [
        f.name for f in m.HubCall._meta.fields if f.name not in ("id", "caller_phone")
    ]
    inlines = [RoutingDecisionInline]

    def has_add_permission(self, request: Any) -> bool:
        return False


@admin.register(m.AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "home_region"]
    list_filter = ["home_region"]


def _declared_params_help() -> str:
    """Each rule's params with type, range and default, under the params field."""
    lines = []
    for rule in RULES:
        for spec in rule.param_specs:
            bounds = f"{spec.min:g} to {spec.max:g}" if spec.min is not None else "any"
            null = ", null allowed" if spec.nullable else ""
            lines.append(
                f"{rule.key}: {spec.name} ({spec.type.__name__}, {bounds}{null}, "
                f"default {spec.default})"
            )
    return "JSON object. Params each rule takes: " + "; ".join(lines) + "."


class RuleSettingForm(forms.ModelForm):
    class Meta:
        model = m.RuleSetting
        fields = ["key", "enabled", "weight", "params", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "params" in self.fields:
            self.fields["params"].help_text = _declared_params_help()


@admin.register(m.RuleSetting)
class RuleSettingAdmin(admin.ModelAdmin):
    # The model's clean() checks params against the rule's declared ParamSpecs, so the
    # form shows a field error naming the param instead of saving a value that breaks
    # every slot search.
    form = RuleSettingForm
    list_display = ["key", "enabled", "weight", "description"]
    list_editable = ["enabled", "weight"]


@admin.register(m.AccessWiden)
class AccessWidenAdmin(admin.ModelAdmin):
    """Break-glass widens, for compliance review: who opened which patient outside their
    region, on which call, and why. Read-only: the record is the evidence."""

    list_display = ["created_at", "user", "patient_id", "call_id", "region", "reason"]
    list_filter = ["region", "created_at"]
    search_fields = ["user__username"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "region"]
    readonly_fields = ["user", "patient", "call", "region", "reason", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(m.ReminderCadence)
class ReminderCadenceAdmin(admin.ModelAdmin):
    """Reminder steps per visit type and location (empty: every one), e.g. email at 168
    hours, texts at 48 and 2 hours; the reminder run (beat) sends each step once."""

    list_display = ["__str__", "appointment_type", "location", "channel", "hours_before", "active"]
    list_filter = ["channel", "active", "appointment_type", "location"]
    list_select_related = ["appointment_type", "location"]


@admin.register(m.ReplyReview)
class ReplyReviewAdmin(admin.ModelAdmin):
    """Texts the hub could not act on, oldest first: a person reads each and marks it done
    once handled (called back, rebooked, answered)."""

    list_display = ["received_at", "patient", "status"]
    list_filter = ["status"]
    list_select_related = ["patient"]
    raw_id_fields = ["patient"]
    readonly_fields = ["patient", "phone", "body", "received_at"]
    actions = ["mark_done"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Mark the selected replies as handled")
    def mark_done(self, request: HttpRequest, queryset: Any) -> None:
        for review in queryset.filter(status=m.ReplyReview.Status.OPEN):
            review.status = m.ReplyReview.Status.DONE
            review.save(update_fields=["status"])  # one audited change per reply


@admin.register(m.RecallRule)
class RecallRuleAdmin(admin.ModelAdmin):
    list_display = ["appointment_type", "interval_months", "daily_per_location", "active"]
    list_filter = ["active"]


from . import admin_resources  # noqa: E402, F401  (mobile equipment and blocks)
