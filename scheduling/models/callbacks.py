"""Callbacks: calls an agent promised to return (a wrap-up outcome of "callback needed")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.crypto.fields import EncryptedCharField

from .booking import Call, CallReason


class Callback(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    call = models.OneToOneField(
        Call,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="callback",
        help_text="The call wrapped up as needing a callback",
    )
    # A caller who chose a callback over waiting in a hub's queue: no agent spoke to them.
    hub_call = models.OneToOneField(
        "scheduling.HubCall",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="callback",
    )
    patient = models.ForeignKey(
        "patients.Patient",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callbacks",
    )
    # The number to ring when the caller was never identified (digits only): PHI, so
    # encrypted like the call's own caller number.
    phone = EncryptedCharField(max_length=20, blank=True)
    reason = models.CharField(max_length=60, blank=True, help_text="CallReason value")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="callbacks",
        help_text="The agent who owes the call; empty means any agent",
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_call = models.ForeignKey(
        Call,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The call that returned it",
    )

    class Meta:
        ordering = ["due_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | Q(done_at__isnull=False),
                name="callback_finished_has_time",
            ),
            models.CheckConstraint(
                condition=Q(call__isnull=False) | Q(hub_call__isnull=False),
                name="callback_has_a_call",
            ),
        ]
        indexes = [
            # The worklist: open callbacks by due time.
            models.Index(
                fields=["due_at"], condition=Q(status="open"), name="callback_open_due_idx"
            )
        ]

    def __str__(self) -> str:
        return f"Callback #{self.pk}"

    @property
    def reason_label(self) -> str:
        return str(dict(CallReason.choices).get(self.reason, self.reason))
