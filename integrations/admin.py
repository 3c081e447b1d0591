from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from config.permissions import VIEW_RAW_MESSAGE

from . import models as m
from . import operations
from .tokens import api_token_revoke


@admin.register(m.Connector)
class ConnectorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "role",
        "direction",
        "location",
        "payer",
        "endpoint",
        "processing_id",
        "allow_plain_transport",
        "enabled",
    ]
    list_filter = [
        "kind",
        "role",
        "enabled",
        "processing_id",
        "allow_plain_transport",
        "location__region",
    ]
    search_fields = ["name", "endpoint", "sending_application", "sending_facility"]


@admin.register(m.ClinicalSegmentMap)
class ClinicalSegmentMapAdmin(admin.ModelAdmin):
    list_display = ["segment", "connector", "kind", "code_field", "status_field"]
    list_filter = ["kind"]


class AppendOnlyAdmin(admin.ModelAdmin):
    """The ledger is append-only from the wire: rows are written by the listener, the
    relay and the pollers, never typed in or deleted by hand (a deleted row would be an
    undetectable gap in the evidence, a typed one a message nobody sent). Every field is
    read-only; change permission stays so the status actions (replay, dead-letter,
    resolve) keep working, and they go through integrations.operations."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields if f.name != "id"]


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> Any:
        if self.value() == "yes":
            return queryset.exclude(review_reason="")
        if self.value() == "no":
            return queryset.filter(review_reason="")
        return queryset


@admin.register(m.Message)
class MessageAdmin(AppendOnlyAdmin):
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
        "review_reason",
    ]
    list_filter = ["direction", "protocol", "status", NeedsReviewFilter, "connector"]
    search_fields = ["control_id", "sha256"]
    date_hierarchy = "received_at"
    readonly_fields = ["sha256", "received_at"]
    actions = ["replay", "resend", "dead_letter", "resolve", "mark_reviewed"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = [f.name for f in m.Message._meta.fields if f.name != "id"]
        # The raw payload is PHI: only users with the explicit permission see it.
        if not request.user.has_perm(VIEW_RAW_MESSAGE):
            fields = [f for f in fields if f not in {"raw", "ack_raw"}]
        return fields

    def phi_shown(self, request: HttpRequest) -> bool:
        """Only the raw payload is PHI here: its reader is audited (config.admin_site)."""
        return bool(request.user.has_perm(VIEW_RAW_MESSAGE))

    def _report(self, request: HttpRequest, verb: str, done: list[int], asked: int) -> None:
        skipped = asked - len(done)
        text = f"{verb} {len(done)} message(s)."
        if skipped:
            text += f" {skipped} skipped: not in a state this action applies to."
        self.message_user(request, text, messages.SUCCESS if done else messages.WARNING)

    @admin.action(
        description="Replay (queue again for processing or delivery)", permissions=["change"]
    )
    def replay(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        self._report(request, "Queued again", operations.messages_replay(ids=ids), len(ids))

    @admin.action(
        description="Resend to the connector (fresh delivery of a delivered or dead outbound)",
        permissions=["change"],
    )
    def resend(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        done = operations.messages_resend(ids=ids, by=request.user.get_username())
        self._report(request, "Queued a fresh delivery of", done, len(ids))

    @admin.action(description="Dead-letter (stop retrying)", permissions=["change"])
    def dead_letter(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        done = operations.messages_dead_letter(
            ids=ids, reason=f"dead-lettered by {request.user.get_username()}"
        )
        self._report(request, "Dead-lettered", done, len(ids))

    @admin.action(description="Resolve (handled outside the hub)", permissions=["change"])
    def resolve(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        self._report(request, "Resolved", operations.messages_resolve(ids=ids), len(ids))

    @admin.action(description="Mark reviewed (clear the review flag)", permissions=["change"])
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[m.Message]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        self._report(request, "Marked reviewed", operations.messages_reviewed(ids=ids), len(ids))


@admin.register(m.OutboxEvent)
class OutboxEventAdmin(AppendOnlyAdmin):
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
    """Tokens are issued with ``issue_api_token`` (the key is printed once and only its
    hash kept), so there is no add page; here they are seen and revoked."""

    list_display = [
        "prefix",
        "name",
        "user",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked",
    ]
    list_filter = ["revoked", "expires_at"]
    search_fields = ["prefix", "name", "user__username"]
    fields = readonly_fields = (
        "prefix",
        "name",
        "user",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[m.ApiToken]) -> None:
        count = sum(api_token_revoke(token=token, by=request.user) for token in queryset)
        self.message_user(request, f"Revoked {count} token(s).")
