"""Admin for mobile equipment and for room and equipment blocks (sterilization,
maintenance). Blocks are written through ``resource_block_create`` so the same checks
and locks apply as anywhere else; a visit's own bookings are read-only here."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone

from . import models as m
from .selectors.visit_resources import resource_taken
from .services.errors import ResourceBusy, SchedulingError
from .services.resources import resource_block_cancel, resource_block_create


@admin.register(m.MobileEquipment)
class MobileEquipmentAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "active"]
    list_filter = ["active"]
    search_fields = ["name", "code"]
    filter_horizontal = ["serves"]


class BlockForm(forms.ModelForm):
    class Meta:
        model = m.ResourceBooking
        fields = ["room", "equipment", "start", "end", "reason"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("room") is None) == (data.get("equipment") is None):
            raise forms.ValidationError("Choose a room or a piece of mobile equipment.")
        if not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why it is blocked (sterilization, maintenance…).")
        return data

    def _post_clean(self) -> None:
        # The model's checks (one resource, end after start) become form errors; the
        # service sets who and when again when it writes the row.
        self.instance.created_at = timezone.now()
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        data = self.cleaned_data
        if resource_taken(
            start=data["start"], end=data["end"], room=data["room"], equipment=data["equipment"]
        ):
            # Checked again under the resource's lock when the block is written.
            self.add_error(None, ResourceBusy.message)


@admin.register(m.ResourceBooking)
class ResourceBookingAdmin(admin.ModelAdmin):
    list_display = ["__str__", "room", "equipment", "start", "end", "reason", "active"]
    list_filter = ["active", "equipment"]
    search_fields = ["reason", "room__name", "equipment__name"]
    raw_id_fields = ["room", "appointment"]
    date_hierarchy = "start"
    actions = ["lift_blocks"]

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = BlockForm
        return super().get_form(request, obj, change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return [f.name for f in m.ResourceBooking._meta.fields]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # lift a block instead: the history stays

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if change:
            return
        try:
            block = resource_block_create(
                by=request.user,  # type: ignore[arg-type]
                start=form.cleaned_data["start"],
                end=form.cleaned_data["end"],
                reason=form.cleaned_data["reason"],
                room=form.cleaned_data["room"],
                equipment=form.cleaned_data["equipment"],
            )
        except SchedulingError as exc:
            # The admin has no form error path after validation; the change list shows
            # why nothing was saved.
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = block.pk

    @admin.action(description="Lift the selected blocks")
    def lift_blocks(self, request: HttpRequest, queryset: Any) -> None:
        for block in queryset.filter(appointment__isnull=True, active=True):
            resource_block_cancel(block=block, by=request.user)  # type: ignore[arg-type]
