"""Reads for scheduling: the slot finder and the waitlist matches for freed slots."""

from __future__ import annotations

import heapq
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.utils import timezone

from patients.models import Patient

from .models import (
    AgentProfile,
    Appointment,
    AppointmentType,
    Hold,
    Location,
    Provider,
    Region,
    Slot,
    Waitlist,
)
from .rules import loading
from .rules.base import (
    Candidate,
    LocationFacts,
    Preferences,
    ProviderFacts,
    RuleContext,
    Scope,
    SlotFacts,
)
from .rules.capability import ProviderCapabilityRule
from .rules.distance import distance_miles
from .rules.registry import RULES_BY_KEY, Judgement, ScorePart, judge
from .rules.timing import TIME_OF_DAY_HOURS, in_time_of_day


def appointment_by_external_id(*, location: Location | int, external_id: str) -> Appointment | None:
    """The booking a location's PMS knows by ``external_id`` (SIU SCH-2), if recorded."""
    location_id = _pk(location)
    if not external_id or location_id is None:
        return None
    return (
        Appointment.objects.filter(location_id=location_id, external_id=external_id)
        .select_related("patient", "provider", "location", "appointment_type")
        .first()
    )


# ---------------------------------------------------------------------------
# Waitlist matches
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class WaitlistMatch:
    entry_id: int
    patient_id: int
    patient_name: str
    appointment_type_id: int
    appointment_type: str
    slot_id: int
    start: datetime  # UTC
    local_start: datetime  # in the location's zone
    location_id: int
    location: str
    provider_id: int
    provider: str
    earliest: date
    latest: date
    time_of_day: str


def _free_runs(slots: list[Slot], now: datetime) -> dict[int, timedelta]:
    """For each given slot, how long the provider's free, unheld time runs from its start."""
    if not slots:
        return {}
    provider_ids = {s.provider_id for s in slots}
    lo = min(s.start for s in slots)
    hi = max(s.start for s in slots) + timedelta(hours=10)
    held = set(
        Hold.objects.filter(
            slot__provider_id__in=provider_ids,
            slot__start__gte=lo,
            slot__start__lt=hi,
            released_at__isnull=True,
            consumed_at__isnull=True,
            expires_at__gt=now,
        ).values_list("slot_id", flat=True)
    )
    by_provider: dict[int, list[tuple[int, int, datetime, datetime]]] = defaultdict(list)
    for row in (
        Slot.objects.filter(
            provider_id__in=provider_ids, start__gte=lo, start__lt=hi, status=Slot.Status.FREE
        )
        .order_by("provider_id", "start")
        .values_list("id", "location_id", "start", "end", "provider_id")
    ):
        if row[0] not in held:
            by_provider[row[4]].append(row[:4])
    runs: dict[int, timedelta] = {}
    for rows in by_provider.values():
        # Walk backwards so each slot's run is its own length plus the next one's run.
        following: tuple[int, datetime, timedelta] | None = None  # (location, start, run)
        for slot_id, location_id, start, end in reversed(rows):
            run = end - start
            if following is not None and following[0] == location_id and following[1] == end:
                run += following[2]
            runs[slot_id] = run
            following = (location_id, start, run)
    return runs


def waitlist_matches_for_slots(*, slot_ids: Iterable[int]) -> list[WaitlistMatch]:
    """Open waitlist entries a set of freed slots could serve, first come first served.

    An entry matches a slot when the slot's local date is inside its window, the slot is
    in its time of day, its provider/location lists (when given) include the slot's, the
    free run from the slot is long enough for the visit, the provider has the visit's
    capabilities, the location its equipment, and the patient's age is in the provider's
    range. Each entry appears once, with the earliest slot that serves it.
    """
    now = timezone.now()
    slots = list(
        Slot.objects.filter(pk__in=list(slot_ids), start__gt=now, status=Slot.Status.FREE)
        .select_related("location", "provider")
        .order_by("start")
    )
    runs = _free_runs(slots, now)
    slots = [s for s in slots if s.pk in runs]
    if not slots:
        return []
    zones = {s.location_id: zoneinfo.ZoneInfo(s.location.time_zone) for s in slots}
    local = {s.pk: s.start.astimezone(zones[s.location_id]) for s in slots}
    first_day = min(v.date() for v in local.values())
    last_day = max(v.date() for v in local.values())
    entries = list(
        Waitlist.objects.filter(
            status=Waitlist.Status.OPEN, earliest__lte=last_day, latest__gte=first_day
        )
        .select_related("patient", "appointment_type")
        .prefetch_related("providers", "locations")
        .order_by("created_at", "pk")
    )
    if not entries:
        return []
    type_ids = {e.appointment_type_id for e in entries}
    type_caps: dict[int, set[int]] = defaultdict(set)
    for type_id, cap_id in AppointmentType.required_capabilities.through.objects.filter(
        appointmenttype_id__in=type_ids
    ).values_list("appointmenttype_id", "capability_id"):
        type_caps[type_id].add(cap_id)
    type_equipment: dict[int, set[int]] = defaultdict(set)
    for type_id, eq_id in AppointmentType.required_equipment.through.objects.filter(
        appointmenttype_id__in=type_ids
    ).values_list("appointmenttype_id", "equipment_id"):
        type_equipment[type_id].add(eq_id)
    provider_caps: dict[int, set[int]] = defaultdict(set)
    for prov_id, cap_id in Provider.capabilities.through.objects.filter(
        provider_id__in={s.provider_id for s in slots}
    ).values_list("provider_id", "capability_id"):
        provider_caps[prov_id].add(cap_id)
    location_equipment: dict[int, set[int]] = defaultdict(set)
    for loc_id, eq_id in Location.equipment.through.objects.filter(
        location_id__in={s.location_id for s in slots}
    ).values_list("location_id", "equipment_id"):
        location_equipment[loc_id].add(eq_id)

    matches = []
    for entry in entries:
        wanted_providers = {p.pk for p in entry.providers.all()}
        wanted_locations = {loc.pk for loc in entry.locations.all()}
        need = timedelta(minutes=entry.appointment_type.duration_minutes)
        for slot in slots:
            when = local[slot.pk]
            age = entry.patient.age_on(when.date())
            if (
                entry.earliest <= when.date() <= entry.latest
                and in_time_of_day(when.hour, entry.time_of_day)
                and (not wanted_providers or slot.provider_id in wanted_providers)
                and (not wanted_locations or slot.location_id in wanted_locations)
                and runs[slot.pk] >= need
                and type_caps[entry.appointment_type_id] <= provider_caps[slot.provider_id]
                and type_equipment[entry.appointment_type_id]
                <= location_equipment[slot.location_id]
                and slot.provider.min_patient_age <= age <= slot.provider.max_patient_age
            ):
                matches.append(
                    WaitlistMatch(
                        entry_id=entry.pk,
                        patient_id=entry.patient_id,
                        patient_name=str(entry.patient),
                        appointment_type_id=entry.appointment_type_id,
                        appointment_type=entry.appointment_type.name,
                        slot_id=slot.pk,
                        start=slot.start,
                        local_start=when,
                        location_id=slot.location_id,
                        location=slot.location.name,
                        provider_id=slot.provider_id,
                        provider=str(slot.provider),
                        earliest=entry.earliest,
                        latest=entry.latest,
                        time_of_day=entry.time_of_day,
                    )
                )
                break
    return matches


def waitlist_matches_for_slot(*, slot: Slot) -> list[WaitlistMatch]:
    return waitlist_matches_for_slots(slot_ids=[slot.pk])


# ---------------------------------------------------------------------------
# Slot search
# ---------------------------------------------------------------------------
MAX_WINDOW_DAYS = 120
# Visit-scope rules look at the patient and the visit type only; they get no real site.
NOWHERE = LocationFacts(id=0, name="", time_zone="UTC")
DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class SlotOption:
    slot_id: int
    provider_id: int
    provider: str
    location_id: int
    location: str
    region_id: int | None
    start: datetime  # UTC
    end: datetime  # start + the visit's duration
    local_start: datetime  # in the location's zone: what the agent reads out
    local_end: datetime
    time_zone: str
    score: float
    breakdown: tuple[ScorePart, ...]
    distance_miles: float | None


@dataclass(frozen=True)
class DayGroup:
    day: date  # the location's local date
    options: tuple[SlotOption, ...]  # ranked, best first


@dataclass(frozen=True)
class Excluded:
    kind: str  # "location" | "provider"
    id: int
    name: str
    reasons: tuple[str, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class SlotSearchResult:
    options: tuple[SlotOption, ...]  # ranked, best first
    days: tuple[DayGroup, ...]  # the same options by local day, days in date order
    excluded: tuple[Excluded, ...]
    region_id: int | None  # the region the search was narrowed to, if any
    scoped_to_home_region: bool  # True when the agent's home region was applied by default
    date_from: date
    date_to: date
    locations_searched: int
    providers_searched: int
    extra: dict[str, Any] = field(default_factory=dict)
    # Reasons that rule out every option for this patient and visit type (e.g. an
    # existing-patients-only visit for someone new to the practice).
    blocked: tuple[str, ...] = ()


def _pk(value: Any) -> int | None:
    return None if value is None else int(getattr(value, "pk", value))


def home_region_id(user: AbstractBaseUser | AnonymousUser | None) -> int | None:
    if user is None or not user.is_authenticated:
        return None
    return (
        AgentProfile.objects.filter(user_id=user.pk)
        .values_list("home_region_id", flat=True)
        .first()
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SlotRow = tuple[int, int, int, int, int]  # id, provider, location, start µs, end µs


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def _free_starts_postgres(
    pairs: list[tuple[int, int]], lo: datetime, hi: datetime, per_pair: int, now: datetime
) -> list[SlotRow]:
    """Each pair's earliest free, unheld units, one index range scan per pair.

    ``slot_provider_start_unique`` (provider_id, start) serves every lateral subquery in
    start order, so LIMIT stops each scan early; the live-hold probe hits the partial
    unique index ``hold_one_live_per_slot``.
    """
    # Times come back as integer microseconds since the epoch: a few hundred rows' worth
    # of timestamptz parsing was a measurable share of a search; ints are nearly free.
    sql = """
        SELECT s.id, s.provider_id, s.location_id,
               (extract(epoch FROM s.start) * 1000000)::bigint,
               (extract(epoch FROM s."end") * 1000000)::bigint
        FROM unnest(%s::int[], %s::int[]) AS p(pid, lid)
        CROSS JOIN LATERAL (
            SELECT id, provider_id, location_id, start, "end"
            FROM scheduling_slot s
            WHERE s.provider_id = p.pid AND s.location_id = p.lid
              AND s.start >= %s AND s.start < %s AND s.status = 'free'
              AND NOT EXISTS (
                  SELECT 1 FROM scheduling_hold h
                  WHERE h.slot_id = s.id AND h.released_at IS NULL
                    AND h.consumed_at IS NULL AND h.expires_at > %s)
            ORDER BY s.start
            LIMIT %s
        ) s
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [[p for p, _ in pairs], [loc for _, loc in pairs], lo, hi, now, per_pair]
        )
        return list(cursor.fetchall())


def _free_starts_portable(
    pairs: list[tuple[int, int]], lo: datetime, hi: datetime, per_pair: int, now: datetime
) -> list[SlotRow]:
    """The same rows through the ORM, for SQLite (small embedded networks)."""
    wanted = set(pairs)
    held = Hold.objects.filter(
        released_at__isnull=True, consumed_at__isnull=True, expires_at__gt=now
    ).values("slot_id")
    rows = (
        Slot.objects.filter(
            provider_id__in={p for p, _ in pairs},
            start__gte=lo,
            start__lt=hi,
            status=Slot.Status.FREE,
        )
        .exclude(pk__in=held)
        .order_by("provider_id", "location_id", "start")
        .values_list("id", "provider_id", "location_id", "start", "end")
    )
    taken: dict[tuple[int, int], int] = defaultdict(int)
    out = []
    for slot_id, provider_id, location_id, start, end in rows:
        key = (provider_id, location_id)
        if key in wanted and taken[key] < per_pair:
            taken[key] += 1
            out.append((slot_id, provider_id, location_id, _micros(start), _micros(end)))
    return out


def slot_search(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    provider: Provider | int | None = None,
    location: Location | int | None = None,
    region: Region | int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    time_of_day: str = "any",
    preferred_time_of_day: str | None = None,
    max_distance_miles: float | None = None,
    user: AbstractBaseUser | AnonymousUser | None = None,
    home_region_only: bool = True,
    limit: int = 30,
    now: datetime | None = None,
) -> SlotSearchResult:
    """Find ranked, bookable starts for one visit across every location at once.

    Hard rules exclude locations and providers (listed with their reasons); soft rules
    add up to each option's score, with the breakdown kept for the agent to read.
    ``time_of_day`` narrows to morning/afternoon/evening in each location's local time;
    ``preferred_time_of_day`` only ranks (defaults to ``time_of_day``). With a ``user``
    whose AgentProfile has a home region and ``home_region_only``, the search stays in
    that region unless ``region``, ``location`` or ``provider`` says otherwise.

    Cost: a fixed number of queries (facts, then one pass over free slots) and rules run
    once per location and per provider; only the slot-scope rules run per candidate.
    Each provider/location pair contributes its earliest feasible starts (enough to fill
    ``limit`` several times over), so ranking is exact for the top of the list.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    date_from = max(date_from or today, today)
    date_to = date_to or date_from + timedelta(days=DEFAULT_WINDOW_DAYS)
    date_to = min(max(date_to, date_from), date_from + timedelta(days=MAX_WINDOW_DAYS))
    limit = max(1, min(int(limit), 200))
    if time_of_day not in TIME_OF_DAY_HOURS:
        time_of_day = "any"
    provider_id, location_id, region_id = _pk(provider), _pk(location), _pk(region)
    scoped_home = False
    if region_id is None and location_id is None and provider_id is None and home_region_only:
        region_id = home_region_id(user)
        scoped_home = region_id is not None

    snapshot = loading.network_snapshot(on=date_from)
    ctx = RuleContext(
        patient=loading.patient_facts(patient, today=today, configs=snapshot.configs),
        appointment_type=snapshot.types.get(appointment_type.pk)
        or loading.type_facts(appointment_type),
        now=now,
        prefs=Preferences(
            max_distance_miles=max_distance_miles,
            preferred_time_of_day=preferred_time_of_day or time_of_day,
            earliest=date_from,
        ),
        names=snapshot.names,
        configs=snapshot.configs,
    )
    visit = judge(ctx, Candidate(location=NOWHERE), Scope.VISIT)
    if visit.excluded:
        return SlotSearchResult(
            options=(),
            days=(),
            excluded=(),
            region_id=region_id,
            scoped_to_home_region=scoped_home,
            date_from=date_from,
            date_to=date_to,
            locations_searched=0,
            providers_searched=0,
            extra={"pairs": [], "window": _utc_window(date_from, date_to, now), "per_pair": 0},
            blocked=tuple(visit.reasons),
        )
    plan_id = ctx.patient.plan_id
    all_locations, all_providers = snapshot.locations, snapshot.providers
    if plan_id is not None:
        all_locations, all_providers = snapshot.for_network(
            *loading.network_for_plan(plan_id, date_from)
        )
    locations = {
        pk: loc
        for pk, loc in all_locations.items()
        if (location_id is None or pk == location_id)
        and (region_id is None or loc.region_id == region_id)
    }
    served = snapshot.served
    providers = {
        pk: prov
        for pk, prov in all_providers.items()
        if (provider_id is None or pk == provider_id)
        and any(loc_id in locations for loc_id in served.get(pk, ()))
    }

    excluded: list[Excluded] = []
    location_verdicts: dict[int, Judgement] = {}
    for loc in locations.values():
        verdict = judge(ctx, Candidate(location=loc), Scope.LOCATION)
        if verdict.excluded:
            excluded.append(_excluded("location", loc.id, loc.name, verdict))
        else:
            location_verdicts[loc.id] = verdict
    provider_verdicts: dict[int, Judgement] = {}
    searched_providers = 0
    incapable = _incapable_providers(snapshot, ctx)
    for prov in providers.values():
        in_scope = [loc_id for loc_id in served.get(prov.id, []) if loc_id in locations]
        if not in_scope:
            continue
        searched_providers += 1
        gated = incapable.get(prov.id)
        if gated is not None:
            excluded.append(gated)
            continue
        verdict = judge(
            ctx, Candidate(location=locations[in_scope[0]], provider=prov), Scope.PROVIDER
        )
        if verdict.excluded:
            excluded.append(_excluded("provider", prov.id, prov.name, verdict))
        else:
            provider_verdicts[prov.id] = verdict
    pairs = [
        (prov_id, loc_id)
        for prov_id in provider_verdicts
        for loc_id in served.get(prov_id, [])
        if loc_id in location_verdicts
    ]

    options = _options(
        ctx=ctx,
        pairs=pairs,
        locations=locations,
        providers=providers,
        location_verdicts=location_verdicts,
        provider_verdicts=provider_verdicts,
        date_from=date_from,
        date_to=date_to,
        time_of_day=time_of_day,
        limit=limit,
        now=now,
    )
    options.sort(key=lambda o: (-o.score, o.start, o.provider_id))
    top = tuple(options[:limit])
    by_day: dict[date, list[SlotOption]] = defaultdict(list)
    for option in top:
        by_day[option.local_start.date()].append(option)
    excluded.sort(key=lambda e: (e.kind != "location", e.name))
    return SlotSearchResult(
        options=top,
        days=tuple(DayGroup(day, tuple(by_day[day])) for day in sorted(by_day)),
        excluded=tuple(excluded),
        region_id=region_id,
        scoped_to_home_region=scoped_home,
        date_from=date_from,
        date_to=date_to,
        locations_searched=len(locations),
        providers_searched=searched_providers,
        # For benchmarks and debugging: what the slot read covered.
        extra={
            "pairs": pairs,
            "window": _utc_window(date_from, date_to, now),
            "per_pair": _per_pair(ctx, len(pairs), limit, time_of_day),
        },
    )


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


def _incapable_providers(
    snapshot: loading.NetworkSnapshot, ctx: RuleContext
) -> dict[int, Excluded]:
    """Providers the capability gate rules out for this visit type, listed as excluded.

    The gate looks at the visit type and the provider only, never the patient, so the
    answer is kept with the network snapshot: most providers of a large network fail it
    for any given visit, and judging them once per type instead of once per search is
    most of the provider work saved.
    """
    key = ("incapable", ctx.appointment_type)
    cached = snapshot.memo.get(key)
    if cached is None:
        rule = RULES_BY_KEY[ProviderCapabilityRule.key]
        config = ctx.config(rule)
        cached = {}
        if config.enabled:
            for prov in snapshot.providers.values():
                verdict = rule.evaluate(ctx, Candidate(location=NOWHERE, provider=prov), config)
                if verdict.excluded:
                    cached[prov.id] = Excluded(
                        kind="provider",
                        id=prov.id,
                        name=prov.name,
                        reasons=(verdict.reason,),
                        rules=(rule.key,),
                    )
        snapshot.memo[key] = cached
    return cached


def _excluded(kind: str, pk: int, name: str, verdict: Judgement) -> Excluded:
    return Excluded(
        kind=kind,
        id=pk,
        name=name,
        reasons=tuple(verdict.reasons),
        rules=tuple(e.rule for e in verdict.exclusions),
    )


def _options(
    *,
    ctx: Any,
    pairs: list[tuple[int, int]],
    locations: dict[int, LocationFacts],
    providers: dict[int, ProviderFacts],
    location_verdicts: dict[int, Judgement],
    provider_verdicts: dict[int, Judgement],
    date_from: date,
    date_to: date,
    time_of_day: str,
    limit: int,
    now: datetime,
) -> list[SlotOption]:
    if not pairs:
        return []
    duration = timedelta(minutes=ctx.appointment_type.duration_minutes)
    per_pair = _per_pair(ctx, len(pairs), limit, time_of_day)
    # The window is in each location's local dates: widen by a day on both sides in UTC
    # and cut precisely per location below.
    lo, hi = _utc_window(date_from, date_to, now)
    fetch = _free_starts_postgres if connection.vendor == "postgresql" else _free_starts_portable
    rows = fetch(pairs, lo, hi, per_pair, now)

    by_pair: dict[tuple[int, int], list[SlotRow]] = defaultdict(list)
    for row in rows:
        by_pair[(row[1], row[2])].append(row)
    zones = {loc_id: zoneinfo.ZoneInfo(locations[loc_id].time_zone) for _, loc_id in pairs}
    duration_us = _micros(EPOCH + duration)
    # Rank light tuples first; only the `limit` best become SlotOption objects.
    ranked: list[tuple[float, datetime, int, int, int, datetime, Judgement, Judgement]] = []
    for (prov_id, loc_id), run in by_pair.items():
        run.sort(key=lambda r: r[3])
        loc, prov, tz = locations[loc_id], providers[prov_id], zones[loc_id]
        base = location_verdicts[loc_id] + provider_verdicts[prov_id]
        base_score = base.score
        for i, (slot_id, _, _, start_us, _) in enumerate(run):
            end_us = start_us + duration_us
            # Walk the run: the units behind this start must be back to back up to the end.
            covered, j = run[i][4], i
            while covered < end_us and j + 1 < len(run) and run[j + 1][3] == covered:
                j += 1
                covered = run[j][4]
            if covered < end_us:
                continue
            start = EPOCH + timedelta(microseconds=start_us)
            end = start + duration
            local_start = start.astimezone(tz)
            if not (date_from <= local_start.date() <= date_to):
                continue
            if not in_time_of_day(local_start.hour, time_of_day):
                continue
            cand = Candidate(
                location=loc, provider=prov, slot=SlotFacts(id=slot_id, start=start, end=end)
            )
            verdict = judge(ctx, cand, Scope.SLOT)
            if verdict.excluded:
                continue
            ranked.append(
                (-(base_score + verdict.score), start, prov_id, slot_id, loc_id, end, base, verdict)
            )
    options = []
    for neg_score, start, prov_id, slot_id, loc_id, end, base, verdict in heapq.nsmallest(
        limit, ranked, key=lambda r: r[:3]
    ):
        loc, prov, tz = locations[loc_id], providers[prov_id], zones[loc_id]
        miles = distance_miles(ctx, Candidate(location=loc))
        total = base + verdict
        options.append(
            SlotOption(
                slot_id=slot_id,
                provider_id=prov_id,
                provider=prov.name,
                location_id=loc_id,
                location=loc.name,
                region_id=loc.region_id,
                start=start,
                end=end,
                local_start=start.astimezone(tz),
                local_end=end.astimezone(tz),
                time_zone=loc.time_zone,
                score=round(-neg_score, 3),
                breakdown=total.parts,
                distance_miles=None if miles is None else round(miles, 1),
            )
        )
    return options
