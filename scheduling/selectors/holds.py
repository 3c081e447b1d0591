"""Which holds still count: one definition for the services and the slot reads."""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet

from ..models import Hold


def open_holds() -> QuerySet[Hold]:
    """Holds neither released nor consumed: the rows ``hold_one_live_per_slot`` keeps
    unique per slot, including expired ones the beat task has not swept yet."""
    return Hold.objects.filter(released_at__isnull=True, consumed_at__isnull=True)


def live_holds(now: datetime) -> QuerySet[Hold]:
    """Open holds that have not expired: the ones that keep a slot from other agents."""
    return open_holds().filter(expires_at__gt=now)
