"""Keeping each past day's capacity (CapacityDay) so utilization outlives the slot grid."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from ..models import CapacityDay, Slot

# How far back a materializer run fills in days it has not snapshotted yet.
CATCH_UP_DAYS = 35


@transaction.atomic
def capacity_snapshot(*, days: Iterable[date]) -> int:
    """(Re)write the CapacityDay rows of these UTC days from the Slot table; days without
    slots are left as they are (a backfill may have written them). Returns rows written."""
    days = sorted(set(days))
    if not days:
        return 0
    rows = (
        Slot.objects.exclude(status=Slot.Status.BLOCKED)
        .filter(
            start__gte=datetime.combine(days[0], time.min, tzinfo=UTC),
            start__lt=datetime.combine(days[-1] + timedelta(days=1), time.min, tzinfo=UTC),
        )
        .annotate(day=TruncDate("start", tzinfo=UTC))
        .filter(day__in=days)
        .values("day", "location_id", "provider_id")
        .annotate(slots=Count("id"), booked=Count("id", filter=Q(status=Slot.Status.BOOKED)))
    )
    cells = [CapacityDay(**row) for row in rows]
    covered = {c.day for c in cells}
    CapacityDay.objects.filter(day__in=covered).delete()
    CapacityDay.objects.bulk_create(cells, batch_size=2000)
    return len(cells)


def capacity_snapshot_due(*, now: datetime | None = None) -> int:
    """Snapshot the finished days not snapshotted yet (up to ``CATCH_UP_DAYS`` back),
    and yesterday again (late bookings and no-shows settle after midnight)."""
    today = (now or timezone.now()).astimezone(UTC).date()
    first = today - timedelta(days=CATCH_UP_DAYS)
    done = set(
        CapacityDay.objects.filter(day__gte=first, day__lt=today)
        .values_list("day", flat=True)
        .distinct()
    )
    yesterday = today - timedelta(days=1)
    due = [first + timedelta(days=i) for i in range(CATCH_UP_DAYS)]
    return capacity_snapshot(days=[d for d in due if d not in done or d == yesterday])
