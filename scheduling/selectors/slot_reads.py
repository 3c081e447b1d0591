"""The one read of free slot units behind a slot search, in SQL on PostgreSQL.

Each provider/location pair contributes only its earliest few units, so everything that
narrows the search (the local date window, the time of day, and the preferred time when
the agent gave one) is applied in the read, before that cut: an agent asking for
afternoons next week gets the earliest afternoons next week, not the earliest units of
the horizon filtered to nothing afterwards.

Held units are read too, with the agent holding them: the finder shows them as held
(another agent's: not bookable; the searching agent's own: bookable). So are the
closures and time off of the pairs' locations and providers around the window, which the
absence rule judges the starts by.
"""

from __future__ import annotations

import math
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection

from config.prepared import prepared_cursor

from ..models import Slot
from ..rules.loading import absence_rows, absence_window
from ..rules.timing import TIME_OF_DAY_HOURS
from .holds import live_holds

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# id, provider, location, start µs, end µs, the agent holding it (None: not held)
SlotRow = tuple[int, int, int, int, int, int | None]
DAY_SECONDS = 86400
EPOCH_ORDINAL = EPOCH.date().toordinal()
Closures = dict[int, frozenset[date]]  # location -> its closed local dates
TimeOffs = dict[int, tuple[tuple[datetime, datetime], ...]]  # provider -> (start, end), sorted


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class SlotRead:
    """What one search reads: the pairs, each location's zone, the local window."""

    pairs: list[tuple[int, int]]  # (provider, location)
    zones: dict[int, str]  # location id -> IANA zone
    date_from: date  # local dates, inclusive
    date_to: date
    time_of_day: str  # "any" or a TIME_OF_DAY_HOURS key: starts must be inside it
    preferred_time_of_day: str  # read its earliest starts too (only ranks)
    visit: timedelta  # a start's units reach this far past it
    per_pair: int
    now: datetime
    # Locations with a room booked or blocked around the window (read with the patient's
    # facts); None when not read.
    room_blocked: frozenset[int] | None = None

    def local_bounds(self, time_of_day: str) -> tuple[float | None, float | None]:
        """Seconds after local midnight a unit may start at: from the window's start to
        its end plus the visit (the units behind the last start). None: no bound."""
        hours = TIME_OF_DAY_HOURS.get(time_of_day)
        if hours is None:
            return None, None
        lo, hi = hours[0] * 3600.0, hours[1] * 3600.0 + self.visit.total_seconds()
        return lo, (None if hi >= DAY_SECONDS else hi)

    @property
    def second_pass(self) -> str | None:
        """The preferred time of day, when it deserves a read of its own: the filter
        allows any time, and the earliest units of a pair might all be outside it."""
        wanted = self.preferred_time_of_day
        if self.time_of_day == "any" and wanted in TIME_OF_DAY_HOURS:
            return wanted
        return None

    def local_days(self, tz: zoneinfo.ZoneInfo) -> tuple[datetime, datetime]:
        """The window's first local midnight and the one after its last day, in ``tz``."""
        return (
            datetime.combine(self.date_from, time.min, tzinfo=tz),
            datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=tz),
        )

    def utc_window(self, zone: str) -> tuple[datetime, datetime]:
        """[first start, last unit start) in UTC for a location in ``zone``."""
        tz = zoneinfo.ZoneInfo(zone)
        lo = datetime.combine(self.date_from, time.min, tzinfo=tz).astimezone(UTC)
        hi = datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=tz)
        return max(self.now, lo), hi.astimezone(UTC) + self.visit


# The pair's units in the local window (index range on slot_provider_start_unique, so
# LIMIT stops each scan early), narrowed to a time of day by their local clock time; the
# second branch reads the preferred time of day's earliest units and is folded away by
# the planner when there is none (parameters are bound client-side, so they are
# constants to it). The live-hold probe hits the partial unique index
# hold_one_live_per_slot: at most one open hold per slot, so one row at most. Times come
# back as integer microseconds since the epoch: timestamptz parsing was a measurable
# share of a search.
#
# The pairs' closures (id 0: location, days since the epoch) and time off (id -1:
# provider, start, end) come back in the same round trip, each an index probe per
# location or provider (closure_once_per_day, the time off's provider index): reading the
# whole network's around every search cost more than the rest of the patient's facts.
_POSTGRES_SQL = """
    SELECT s.id, s.provider_id, s.location_id,
           (extract(epoch FROM s.start) * 1000000)::bigint,
           (extract(epoch FROM s."end") * 1000000)::bigint,
           (SELECT h.held_by_id FROM scheduling_hold h
            WHERE h.slot_id = s.id AND h.released_at IS NULL
              AND h.consumed_at IS NULL AND h.expires_at > %(now)s)
    FROM unnest(%(pids)s::int[], %(lids)s::int[], %(zones)s::text[]) AS p(pid, lid, tz)
    CROSS JOIN LATERAL (
        (SELECT id, provider_id, location_id, start, "end"
         FROM scheduling_slot s
         WHERE s.provider_id = p.pid AND s.location_id = p.lid AND s.status = 'free'
           AND s.start >= greatest(%(now)s, %(date_from)s::timestamp AT TIME ZONE p.tz)
           AND s.start < (%(date_after)s::timestamp AT TIME ZONE p.tz) + %(visit)s::interval
           AND (%(tod_lo)s::float8 IS NULL
                OR extract(epoch FROM (s.start AT TIME ZONE p.tz)::time) >= %(tod_lo)s)
           AND (%(tod_hi)s::float8 IS NULL
                OR extract(epoch FROM (s.start AT TIME ZONE p.tz)::time) < %(tod_hi)s)
         ORDER BY s.start
         LIMIT %(per_pair)s)
        UNION
        (SELECT id, provider_id, location_id, start, "end"
         FROM scheduling_slot s
         WHERE %(pref_lo)s::float8 IS NOT NULL
           AND s.provider_id = p.pid AND s.location_id = p.lid AND s.status = 'free'
           AND s.start >= greatest(%(now)s, %(date_from)s::timestamp AT TIME ZONE p.tz)
           AND s.start < (%(date_after)s::timestamp AT TIME ZONE p.tz) + %(visit)s::interval
           AND extract(epoch FROM (s.start AT TIME ZONE p.tz)::time) >= %(pref_lo)s
           AND (%(pref_hi)s::float8 IS NULL
                OR extract(epoch FROM (s.start AT TIME ZONE p.tz)::time) < %(pref_hi)s)
         ORDER BY s.start
         LIMIT %(per_pair)s)
    ) s
    UNION ALL
    SELECT 0, 0, c.location_id, c.date - DATE '1970-01-01', 0, NULL
    FROM scheduling_locationclosure c
    WHERE c.location_id = ANY(%(lids)s::int[])
      AND c.date BETWEEN %(date_from)s::date AND %(closed_to)s::date
    UNION ALL
    SELECT -1, t.provider_id, 0, (extract(epoch FROM t.starts_at) * 1000000)::bigint,
           (extract(epoch FROM t.ends_at) * 1000000)::bigint, NULL
    FROM scheduling_timeoff t
    WHERE t.provider_id = ANY(%(pids)s::int[])
      AND t.ends_at > %(off_from)s::timestamptz AND t.starts_at < %(off_to)s::timestamptz
"""


def postgres_params(read: SlotRead) -> dict[str, Any]:
    """The bound parameters of the PostgreSQL read (the benchmark's baseline uses them)."""
    tod_lo, tod_hi = read.local_bounds(read.time_of_day)
    pref = read.second_pass
    pref_lo, pref_hi = read.local_bounds(pref) if pref else (None, None)
    return {
        "now": read.now,
        "pids": [p for p, _ in read.pairs],
        "lids": [loc for _, loc in read.pairs],
        "zones": [read.zones[loc] for _, loc in read.pairs],
        "date_from": read.date_from,
        "date_after": read.date_to + timedelta(days=1),
        "visit": read.visit,
        "tod_lo": tod_lo,
        "tod_hi": tod_hi,
        "pref_lo": pref_lo,
        "pref_hi": pref_hi,
        "per_pair": read.per_pair,
    }


def _ids(values: list[int]) -> str:
    # Array literals, cast in the SQL: psycopg adapts a Python list element by element in
    # Python, which cost more than the read's planning once prepared.
    return "{" + ",".join(map(str, values)) + "}"


def _texts(values: list[str]) -> str:
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


@dataclass(frozen=True)
class PairUnits:
    """The slot read: the pairs' free units, and the absences the rules judge them by."""

    units: list[SlotRow]
    closures: Closures  # of the pairs' locations, on the window's local dates
    time_off: TimeOffs  # of the pairs' providers, around the window (absence_window)


def _read_postgres(read: SlotRead) -> PairUnits:
    params = postgres_params(read)
    off_from, off_to = absence_window(read.date_from, read.date_to)
    params.update(
        pids=_ids(params["pids"]),
        lids=_ids(params["lids"]),
        zones=_texts(params["zones"]),
        closed_to=read.date_to,
        off_from=off_from,
        off_to=off_to,
    )
    # Hundreds of rows of integers: binary rows decode in about two thirds of the time.
    with prepared_cursor(binary=True) as cursor:
        cursor.execute(_POSTGRES_SQL, params)
        rows = cursor.fetchall()
    units: list[SlotRow] = []
    closed: dict[int, set[date]] = defaultdict(set)
    off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for row in rows:
        kind = row[0]
        if kind > 0:
            units.append(row)
        elif kind == 0:
            closed[row[2]].add(date.fromordinal(EPOCH_ORDINAL + row[3]))
        else:
            off[row[1]].append((EPOCH + timedelta(0, 0, row[3]), EPOCH + timedelta(0, 0, row[4])))
    return PairUnits(
        units,
        {pk: frozenset(days) for pk, days in closed.items()},
        {pk: tuple(sorted(spans)) for pk, spans in off.items()},
    )


def _free_units_postgres(read: SlotRead) -> list[SlotRow]:
    return _read_postgres(read).units


def _free_units_portable(read: SlotRead) -> list[SlotRow]:
    """The same rows through the ORM and Python, for SQLite (small embedded networks)."""
    windows = {loc: read.utc_window(read.zones[loc]) for _, loc in read.pairs}
    held_by = dict(live_holds(read.now).values_list("slot_id", "held_by_id"))
    rows = (
        Slot.objects.filter(
            provider_id__in={p for p, _ in read.pairs},
            start__gte=min(lo for lo, _ in windows.values()),
            start__lt=max(hi for _, hi in windows.values()),
            status=Slot.Status.FREE,
        )
        .order_by("provider_id", "location_id", "start")
        .values_list("id", "provider_id", "location_id", "start", "end")
    )
    passes = [read.local_bounds(read.time_of_day)]
    if read.second_pass:
        passes.append(read.local_bounds(read.second_pass))
    wanted = set(read.pairs)
    taken: dict[tuple[tuple[int, int], int], int] = defaultdict(int)
    out = []
    for slot_id, provider_id, location_id, start, end in rows:
        key = (provider_id, location_id)
        if key not in wanted:
            continue
        lo, hi = windows[location_id]
        if not lo <= start < hi:
            continue
        local = start.astimezone(zoneinfo.ZoneInfo(read.zones[location_id]))
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        kept = False
        for i, (tod_lo, tod_hi) in enumerate(passes):
            inside = (tod_lo is None or seconds >= tod_lo) and (tod_hi is None or seconds < tod_hi)
            if inside and taken[(key, i)] < read.per_pair:
                taken[(key, i)] += 1
                kept = True
        if kept:
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


def pair_units(read: SlotRead) -> PairUnits:
    """Each pair's earliest free units inside the search's window (and its preferred
    time of day's), with who holds them; and the closures and time off of the pairs'
    locations and providers around the window."""
    if not read.pairs:
        return PairUnits([], {}, {})
    if connection.vendor == "postgresql":
        return _read_postgres(read)
    closed, off = absence_rows(
        read.date_from,
        read.date_to,
        location_ids={loc for _, loc in read.pairs},
        provider_ids={prov for prov, _ in read.pairs},
    )
    return PairUnits(_free_units_portable(read), closed, off)


def per_pair_units(ctx: Any, pair_count: int, limit: int) -> int:
    """How many free units to read per provider/location pair.

    Units are 30 minutes in practice; a long visit needs a run of them, so read enough
    rows to verify the run behind each start we want. Fewer pairs -> more starts each.
    """
    units = max(1, math.ceil(ctx.appointment_type.duration_minutes / 30))
    starts = max(3, min(limit, math.ceil(3 * limit / max(pair_count, 1))))
    return starts * units + units
