"""The one read of free slot units behind a slot search, in SQL on PostgreSQL.

Held units are read too, with the agent holding them: the finder shows them as held
(another agent's: not bookable; the searching agent's own: bookable).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection

from ..models import (
    Slot,
)
from .holds import live_holds

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# id, provider, location, start µs, end µs, the agent holding it (None: not held)
SlotRow = tuple[int, int, int, int, int, int | None]


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _free_starts_postgres(
    pairs: list[tuple[int, int]], lo: datetime, hi: datetime, per_pair: int, now: datetime
) -> list[SlotRow]:
    """Each pair's earliest free units and who holds them, one index range scan per pair.

    ``slot_provider_start_unique`` (provider_id, start) serves every lateral subquery in
    start order, so LIMIT stops each scan early; the live-hold probe hits the partial
    unique index ``hold_one_live_per_slot`` (at most one open hold per slot, so the
    scalar subquery has at most one row).
    """
    # Times come back as integer microseconds since the epoch: a few hundred rows' worth
    # of timestamptz parsing was a measurable share of a search; ints are nearly free.
    sql = """
        SELECT s.id, s.provider_id, s.location_id,
               (extract(epoch FROM s.start) * 1000000)::bigint,
               (extract(epoch FROM s."end") * 1000000)::bigint,
               (SELECT h.held_by_id FROM scheduling_hold h
                WHERE h.slot_id = s.id AND h.released_at IS NULL
                  AND h.consumed_at IS NULL AND h.expires_at > %s)
        FROM unnest(%s::int[], %s::int[]) AS p(pid, lid)
        CROSS JOIN LATERAL (
            SELECT id, provider_id, location_id, start, "end"
            FROM scheduling_slot s
            WHERE s.provider_id = p.pid AND s.location_id = p.lid
              AND s.start >= %s AND s.start < %s AND s.status = 'free'
            ORDER BY s.start
            LIMIT %s
        ) s
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [now, [p for p, _ in pairs], [loc for _, loc in pairs], lo, hi, per_pair]
        )
        return list(cursor.fetchall())


def _free_starts_portable(
    pairs: list[tuple[int, int]], lo: datetime, hi: datetime, per_pair: int, now: datetime
) -> list[SlotRow]:
    """The same rows through the ORM, for SQLite (small embedded networks)."""
    wanted = set(pairs)
    held_by = dict(live_holds(now).values_list("slot_id", "held_by_id"))
    rows = (
        Slot.objects.filter(
            provider_id__in={p for p, _ in pairs},
            start__gte=lo,
            start__lt=hi,
            status=Slot.Status.FREE,
        )
        .order_by("provider_id", "location_id", "start")
        .values_list("id", "provider_id", "location_id", "start", "end")
    )
    taken: dict[tuple[int, int], int] = defaultdict(int)
    out = []
    for slot_id, provider_id, location_id, start, end in rows:
        key = (provider_id, location_id)
        if key in wanted and taken[key] < per_pair:
            taken[key] += 1
            out.append(
                (
                    slot_id,
                    provider_id,
                    location_id,
                    _micros(start),
                    _micros(end),
                    held_by.get(slot_id),
                )
            )
    return out


def _per_pair(ctx: Any, pair_count: int, limit: int, time_of_day: str) -> int:
    """How many free units to read per provider/location pair.

    Units are 30 minutes in practice; a long visit needs a run of them, so read enough
    rows to verify the run behind each start we want. Fewer pairs -> more starts each.
    """
    units = max(1, math.ceil(ctx.appointment_type.duration_minutes / 30))
    starts = max(3, min(limit, math.ceil(3 * limit / max(pair_count, 1))))
    if time_of_day != "any":
        starts *= 3
    return starts * units + units


def _utc_window(date_from: date, date_to: date, now: datetime) -> tuple[datetime, datetime]:
    lo = max(now, datetime.combine(date_from - timedelta(days=1), time.min, tzinfo=UTC))
    return lo, datetime.combine(date_to + timedelta(days=2), time.min, tzinfo=UTC)
