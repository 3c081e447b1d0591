"""The sandbox SMS gateway's own store (the provider's side of the demo)."""

from __future__ import annotations

from django.db import models

from config.crypto.fields import EncryptedCharField, EncryptedTextField


class SandboxSms(models.Model):
    """The sandbox SMS gateway's store: what it was asked to send and what the demo's
    patient answered. It stands in for a provider's side, so it is kept apart from the
    ledger (the hub's own record of the same traffic)."""

    class Direction(models.TextChoices):
        OUTBOUND = "out", "Sent to the patient"
        INBOUND = "in", "Answered by the patient"

    sid = models.CharField(max_length=40, unique=True)
    account_sid = models.CharField(max_length=40)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    to = EncryptedCharField(max_length=20)
    from_number = EncryptedCharField(max_length=20)
    body = EncryptedTextField()
    status = models.CharField(max_length=12, default="delivered")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "sandbox text message"

    def __str__(self) -> str:
        return self.sid
