"""Store telephony events, then apply them: the webhook answers only after the row is
committed, and a platform retry of a stored event finds its row and changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from scheduling.hubs.events import CallEvent
from scheduling.services import hub_call_event_apply

from .models import TelephonyEvent
from .twilio import Mapped

logger = logging.getLogger(__name__)

ERR_APPLY = "applying the event failed; the sweep retries it"


def telephony_event_store(
    *, platform: str, mapped: Mapped, params: Mapping[str, str], received_at: datetime
) -> tuple[TelephonyEvent, bool]:
    """The ledger row for this event and whether it is new."""
    try:
        with transaction.atomic():
            row = TelephonyEvent.objects.create(
                platform=platform,
                event_id=mapped.event_id[:120],
                call_sid=mapped.call_sid,
                sequence=mapped.sequence,
                payload=dict(params),
                received_at=received_at,
                status=TelephonyEvent.Status.STORED
                if mapped.event
                else TelephonyEvent.Status.IGNORED,
            )
    except IntegrityError:
        return TelephonyEvent.objects.get(platform=platform, event_id=mapped.event_id[:120]), False
    return row, True


def telephony_event_apply(*, event_id: int, event: CallEvent) -> bool:
    """Apply a stored event once: the conditional update claims it, so a sweep and the
    webhook racing on one row apply it once. Returns whether this call applied it."""
    now = timezone.now()
    with transaction.atomic():
        claimed = TelephonyEvent.objects.filter(
            pk=event_id, status=TelephonyEvent.Status.STORED
        ).update(status=TelephonyEvent.Status.APPLIED, applied_at=now, error="")
        if not claimed:
            return False
        hub_call_event_apply(event=event)
    return True


def telephony_event_apply_logged(*, event_id: int, event: CallEvent) -> None:
    """As ``telephony_event_apply``; a failure is recorded on the row for the sweep and
    integration health, and the webhook still acknowledges the stored event."""
    try:
        telephony_event_apply(event_id=event_id, event=event)
    except Exception:
        logger.exception("telephony event %s could not be applied", event_id)
        TelephonyEvent.objects.filter(pk=event_id, status=TelephonyEvent.Status.STORED).update(
            error=ERR_APPLY
        )


def telephony_sweep(*, older_than_seconds: int = 10) -> int:
    """Apply stored events the webhook did not (a crash after the commit, a failure),
    oldest first. Returns how many it applied."""
    from .twilio import PLATFORM, TwilioPayloadError, map_request

    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    applied = 0
    rows = TelephonyEvent.objects.filter(
        status=TelephonyEvent.Status.STORED, platform=PLATFORM, received_at__lte=cutoff
    ).order_by("received_at", "pk")
    for row in rows[:500]:
        try:
            mapped = map_request(row.payload, received_at=row.received_at)
        except TwilioPayloadError:
            continue
        if mapped.event is not None:
            telephony_event_apply_logged(event_id=row.pk, event=mapped.event)
            applied += 1
    return applied
