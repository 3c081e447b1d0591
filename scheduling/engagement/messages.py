"""Writing ``PatientMessage`` rows and announcing them: integrations writes the outbox
rows in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from .. import signals
from ..models import PatientMessage


def patient_messages_queue(*, messages: Sequence[PatientMessage]) -> list[PatientMessage]:
    """Save unsaved messages in one INSERT and announce them. Atomic."""
    if not messages:
        return []
    with transaction.atomic():
        saved = PatientMessage.objects.bulk_create(list(messages), batch_size=2000)
        signals.patient_messages_queued.send(sender=PatientMessage, messages=saved)
    return saved
