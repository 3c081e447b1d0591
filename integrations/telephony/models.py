"""The telephony event ledger: every event a platform sent, stored before the webhook
answers, once per platform event id."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from config.crypto.fields import EncryptedJSONField


class TelephonyEvent(models.Model):
    class Status(models.TextChoices):
        STORED = "stored", "Stored"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (no effect on a call)"
        FAILED = "failed", "Failed"

    platform = models.CharField(max_length=20)
    # The platform's id for the event: for Twilio, the leg's CallSid and SequenceNumber.
    event_id = models.CharField(max_length=120)
    call_sid = models.CharField(max_length=64, blank=True)
    sequence = models.IntegerField(null=True, blank=True)
    # The posted parameters as received: caller numbers are PHI, so encrypted.
    payload = EncryptedJSONField(default=dict)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STORED)
    applied_at = models.DateTimeField(null=True, blank=True)
    # Our own constant messages, never payload text.
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["received_at", "pk"]
        constraints = [
            # A platform's retry of an event it already delivered is the same row.
            models.UniqueConstraint(fields=["platform", "event_id"], name="telephony_event_once")
        ]
        indexes = [
            # The sweep picks up what a crash between storing and applying left.
            models.Index(
                fields=["received_at"], condition=Q(status="stored"), name="telephony_stored_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.platform} {self.event_id}"
