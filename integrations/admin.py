from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from . import models as m


@admin.register(m.Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "role", "direction", "location", "payer", "endpoint", "enabled"]
    list_filter = ["kind", "role", "enabled", "location__region"]
    search_fields = ["name", "endpoint", "sending_application", "sending_facility"]


@admin.register(m.Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "direction",
        "protocol",
        "message_type",
        "connector",
        "status",
        "attempts",
        "ack_code",
        "received_at",
    ]
    list_filter = ["direction", "protocol", "status", "connector"]
    search_fields = ["control_id", "sha256"]
    date_hierarchy = "received_at"
    readonly_fields = ["sha256", "received_at"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = [f.name for f in m.Message._meta.fields if f.name != "id"]
        # The raw payload is PHI: only users with the explicit permission see it.
        if not request.user.has_perm("integrations.view_raw_message"):
            fields = [f for f in fields if f not in {"raw", "ack_raw"}]
        return fields


@admin.register(m.OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "event_type",
        "aggregate_type",
        "aggregate_id",
        "location",
        "status",
        "attempts",
        "created_at",
    ]
    list_filter = ["status", "event_type"]


@admin.register(m.ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "user", "name", "created_at", "last_used_at", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["key_hash", "prefix"]
