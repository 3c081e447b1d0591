"""The slot finder: ranked starts for one visit across every location, with the reasons
every other location and provider is excluded.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections import defaultdict
from datetime import date, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, PermissionsMixin
from django.utils import timezone

from config.inputs import MAX_DAYS_AHEAD
from config.permissions import OVERRIDE_NETWORK
from patients.models import Patient

from ..models import (
    Appointment,
    AppointmentType,
    Location,
    Provider,
    Region,
)
from ..rules import loading
from ..rules.base import (
    Candidate,
    Kind,
    LocationFacts,
    Preferences,
    ProviderFacts,
    RuleContext,
    Scope,
    SlotFacts,
    Start,
)
from ..rules.registry import (
    Judgement,
    batch_judger,
    judge,
    soft_start_bound,
    soft_start_scorer,
)
from ..rules.snapshot import network_snapshot
from ..rules.timing import TIME_OF_DAY_HOURS
from .absences import apply_absences
from .agents import home_region_id
from .slot_gates import scope_locations
from .slot_judging import judge_scope, score_pairs, shown_start
from .slot_reads import EPOCH, SlotRead, SlotRow, _micros, pair_units, per_pair_units
from .slot_results import (
    HELD_BY_ME,
    HELD_BY_OTHER,
    DayGroup,
    Ranked,
    SlotOption,
    SlotSearchResult,
    slot_options,
)
from .visit_resources import (
    BATCH,
    resource_exclusions,
    resource_loader,
    resource_miss,
    with_visit_resources,
)

MAX_WINDOW_DAYS = 120
# Visit-scope rules look at the patient and the visit type only; they get no real site.
NOWHERE = LocationFacts(id=0, name="", time_zone="UTC")
DEFAULT_WINDOW_DAYS = 30
OVERRIDE_PERMISSION = OVERRIDE_NETWORK
HARD, SOFT = frozenset({Kind.HARD}), frozenset({Kind.SOFT})
# Pairs whose starts are built at first when ranking by bound, doubling each time more
# are needed: a network-wide search has hundreds, and the list usually fills from a few.
FIRST_PAIRS = 16
# Ranked starts judged together at the least, when only a few more are needed.
MIN_JUDGED = 8


def _pk(value: Any) -> int | None:
    return None if value is None else int(getattr(value, "pk", value))


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
    allow_out_of_network: bool = False,
    rescheduling: Appointment | int | None = None,
) -> SlotSearchResult:
    """Find ranked, bookable starts for one visit across every location at once.

    Hard rules exclude locations and providers (listed with their reasons); soft rules
    add up to each option's score, with the breakdown kept for the agent to read.
    ``time_of_day`` narrows to morning/afternoon/evening in each location's local time;
    ``preferred_time_of_day`` only ranks (defaults to ``time_of_day``). With a ``user``
    whose AgentProfile has a home region and ``home_region_only``, the search stays in
    that region unless ``region``, ``location`` or ``provider`` says otherwise.

    Starts another agent holds are not options (nothing to book); they appear in
    ``held`` and, where they rank, in ``days`` with ``held`` set (``hold_note`` "held by
    another agent", never who). Starts held by ``user`` are options (``held_by_me``).

    ``allow_out_of_network`` (honoured only for a ``user`` with
    ``scheduling.override_network``) turns the network rules from exclusions into a
    flag: a location or provider whose *only* exclusions are network rules is searched,
    and its options carry ``out_of_network`` and ``network_note``; every other hard rule
    still excludes. Booking such an option needs ``network_override_reason``.

    ``rescheduling``: the appointment being moved; its own time does not count against
    the patient-no-overlap rule (the move frees it).

    Cost: a fixed number of queries (facts, then one pass over free slots) and rules run
    once per location and per provider; only the slot-scope rules run per candidate.
    Each provider/location pair contributes its earliest starts inside the local date
    window and time of day (enough to fill ``limit`` several times over), plus, with a
    preferred time of day, its earliest starts in that; see ``slot_reads``.
    """
    now = now or timezone.now()
    override = bool(
        allow_out_of_network
        and isinstance(user, PermissionsMixin)
        and user.is_authenticated
        and user.has_perm(OVERRIDE_PERMISSION)
    )
    today = timezone.localdate(now)
    # Never past the last day a search can be about, so the window arithmetic below
    # stays inside Python's calendar whatever a caller passes.
    last_day = today + timedelta(days=MAX_DAYS_AHEAD)
    date_from = min(max(date_from or today, today), last_day)
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

    # The patient's facts, the plan's network and the network's version in one round
    # trip; the slot read, with the absences of the pairs it reads, is the only other one.
    rows = loading.search_rows(
        patient, today=today, network_on=date_from, days=(date_from, date_to), absences=False
    )
    snapshot = network_snapshot(on=date_from, stamp=rows.stamp)
    # A chosen location is the more specific choice: one outside the chosen region widens
    # the scope to it instead of matching nothing, and the result says so.
    widened_from_region = None
    chosen = snapshot.locations.get(location_id) if location_id is not None else None
    if chosen is not None and region_id is not None and chosen.region_id != region_id:
        widened_from_region, region_id, scoped_home = region_id, None, False
    patient_facts = loading.patient_facts(patient, today=today, configs=snapshot.configs, rows=rows)
    moving = _pk(rescheduling)
    if moving is not None:
        patient_facts = dataclasses.replace(
            patient_facts,
            active_visits=tuple(v for v in patient_facts.active_visits if v.id != moving),
        )
        if Appointment.objects.filter(pk=moving, appointment_type=appointment_type).exists():
            # Moving a visit does not change who it was booked for: a New patient exam
            # stays movable once the location has charted the patient.
            patient_facts = dataclasses.replace(
                patient_facts,
                established_with_group=appointment_type.patient_status == "existing",
            )
    ctx = RuleContext(
        patient=patient_facts,
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
    licensed = loading.licensed_until(ctx.appointment_type, patient_facts.state, memo=snapshot.memo)
    ctx = dataclasses.replace(ctx, licensed_until=licensed)
    ctx = with_visit_resources(snapshot, ctx)
    read = SlotRead(
        pairs=[],
        zones={},
        date_from=date_from,
        date_to=date_to,
        time_of_day=time_of_day,
        preferred_time_of_day=ctx.prefs.preferred_time_of_day,
        visit=timedelta(minutes=ctx.appointment_type.duration_minutes),
        per_pair=0,
        now=now,
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
            extra={"read": read},
            blocked=tuple(visit.reasons),
        )
    plan_id = ctx.patient.plan_id
    all_locations, all_providers = snapshot.locations, snapshot.providers
    if plan_id is not None and rows.network is not None:
        all_locations, all_providers = snapshot.for_network(*rows.network)
    locations, location_cands = scope_locations(
        snapshot, all_locations, location_id=location_id, region_id=region_id
    )
    verdicts = judge_scope(
        ctx,
        snapshot,
        locations=locations,
        location_cands=location_cands,
        all_providers=all_providers,
        scope_key=(location_id, region_id, provider_id),
        override=override,
    )
    excluded, network_notes = verdicts.excluded, verdicts.network_notes
    location_verdicts, provider_verdicts = verdicts.locations, verdicts.providers
    providers, served = verdicts.provider_facts, snapshot.served
    pairs = [
        (prov_id, loc_id)
        for prov_id in provider_verdicts
        for loc_id in served.get(prov_id, [])
        if loc_id in location_verdicts
    ]
    score_pairs(ctx, verdicts, locations, pairs)
    read = dataclasses.replace(
        read,
        pairs=pairs,
        zones={loc_id: locations[loc_id].time_zone for _, loc_id in pairs},
        per_pair=per_pair_units(ctx, len(pairs), limit),
        room_blocked=rows.room_blocked,
    )
    misses: dict[int, str] = {}  # locations whose every start lacked a resource
    options = _options(
        ctx=ctx,
        read=read,
        locations=locations,
        providers=providers,
        location_verdicts=location_verdicts,
        provider_verdicts=provider_verdicts,
        limit=limit,
        agent_id=user.pk if user is not None and user.is_authenticated else None,
        network_notes=network_notes,
        misses=misses,
    )
    excluded.extend(resource_exclusions(misses, locations))
    # Locations first, by name; then the providers (already by name, see judge_scope).
    excluded.sort(key=attrgetter("name"))
    excluded.extend(verdicts.excluded_providers)
    # Ranking picks which starts are shown; within a day they read in clock order (a
    # 4:00 PM listed above 8:00 AM because it scored higher read as a mistake).
    by_day: dict[date, list[SlotOption]] = defaultdict(list)
    for option in sorted(options, key=lambda o: (o.start, -o.score, o.slot_id)):
        by_day[option.local_start.date()].append(option)
    return SlotSearchResult(
        options=tuple(o for o in options if not o.held),
        held=tuple(o for o in options if o.held),
        days=tuple(DayGroup(day, tuple(by_day[day])) for day in sorted(by_day)),
        excluded=tuple(excluded),
        region_id=region_id,
        scoped_to_home_region=scoped_home,
        date_from=date_from,
        date_to=date_to,
        locations_searched=len(locations),
        providers_searched=verdicts.providers_searched,
        # For benchmarks and debugging: what the slot read covered.
        extra={"read": read},
        out_of_network_allowed=override,
        widened_from_region_id=widened_from_region,
    )


def _options(
    *,
    ctx: Any,
    read: SlotRead,
    locations: dict[int, LocationFacts],
    providers: dict[int, ProviderFacts],
    location_verdicts: dict[int, Judgement],
    provider_verdicts: dict[int, Judgement],
    limit: int,
    agent_id: int | None,
    network_notes: dict[tuple[str, int], tuple[str, ...]] | None = None,
    misses: dict[int, str] | None = None,
) -> list[SlotOption]:
    """The ``limit`` best bookable starts, best first, plus the starts other agents hold
    that rank among them (shown as held, so nobody is surprised by a 409)."""
    read_units = pair_units(read)
    rows = read_units.units
    if not rows:
        return []
    # The starts are judged with the closures and time off read for their pairs.
    locations, providers = apply_absences(
        locations=locations,
        providers=providers,
        closed=read_units.closures,
        off=read_units.time_off,
    )
    load = resource_loader(ctx, rows, read=read, locations=locations, agent_id=agent_id)
    duration = read.visit
    time_of_day = read.time_of_day

    by_pair: dict[tuple[int, int], list[SlotRow]] = defaultdict(list)
    for row in rows:
        by_pair[(row[1], row[2])].append(row)
    # Only the locations with units: a network-wide read covers dozens, fewer have any.
    zones = {loc_id: zoneinfo.ZoneInfo(read.zones[loc_id]) for _, loc_id in by_pair}
    duration_us = _micros(EPOCH + duration)
    # A start's local date is in the window exactly when the start lies between the
    # window's local midnights, so only a time of day needs each start's local clock.
    window_us = {loc_id: tuple(map(_micros, read.local_days(tz))) for loc_id, tz in zones.items()}
    # Local hours a start may begin in (a time of day), else every hour.
    hour_lo, hour_hi = TIME_OF_DAY_HOURS.get(time_of_day, (0, 24))
    any_time = time_of_day not in TIME_OF_DAY_HOURS
    # Starts are scored (the soft rules), then the hard rules judge them in ranked order
    # until ``limit`` are bookable: hard rules only exclude and soft rules only add
    # points, so a start's rank never depends on the hard rules, and the starts below the
    # last one shown could not be shown whatever the hard rules said. The soft slot rules
    # are bounded (``soft_start_bound``): a pair's starts score at most its own points
    # plus that bound, so pairs are ranked best bound first and a pair's starts are built
    # and scored only once that bound could reach the starts being judged. Network-wide,
    # most pairs never get there. A start gets slot facts only when it is judged.
    bound = soft_start_bound(ctx, Scope.SLOT)
    # Each pair's own points: (location verdict + provider verdict).score, without
    # building that verdict for the many pairs whose starts are never built.
    bases = {
        (prov_id, loc_id): round(
            sum(
                p.points for p in location_verdicts[loc_id].parts + provider_verdicts[prov_id].parts
            ),
            3,
        )
        for prov_id, loc_id in by_pair
    }
    pair_order = sorted(bases, key=lambda pair: -bases[pair]) if bound is not None else []
    score_starts = soft_start_scorer(ctx, Scope.SLOT)

    def build(pairs: Any) -> list[tuple[Any, ...]]:
        """The scored starts of some pairs:
        (-score, start, provider, slot, location, base, the pair's run, first unit, last)."""
        starts: list[Start] = []
        behind: list[tuple[float, int, int, Judgement, list[SlotRow], int, int]] = []
        for prov_id, loc_id in pairs:
            run = by_pair[(prov_id, loc_id)]
            run.sort(key=itemgetter(3))
            tz = zones[loc_id]
            first_us, after_us = window_us[loc_id]
            base_score = bases[(prov_id, loc_id)]
            base = location_verdicts[loc_id] + provider_verdicts[prov_id]
            cand = Candidate(locations[loc_id], providers[prov_id])
            last = len(run) - 1
            for i, (slot_id, _, _, start_us, covered, _) in enumerate(run):
                end_us = start_us + duration_us
                # Walk the run: the units behind this start must be back to back.
                j = i
                while covered < end_us and j < last and run[j + 1][3] == covered:
                    j += 1
                    covered = run[j][4]
                if covered < end_us or not first_us <= start_us < after_us:
                    continue
                # Positional timedelta: the keyword form costs twice as much, per start.
                start = EPOCH + timedelta(0, 0, start_us)
                if not (any_time or hour_lo <= start.astimezone(tz).hour < hour_hi):
                    continue
                starts.append((cand, slot_id, start))
                behind.append((base_score, prov_id, loc_id, base, run, i, j))
        return [
            (-(base_score + points), start, prov_id, slot_id, loc_id, base, run, i, j)
            for (_, slot_id, start), (base_score, prov_id, loc_id, base, run, i, j), points in zip(
                starts, behind, score_starts(starts), strict=True
            )
        ]

    rank = itemgetter(0, 1, 2, 3)
    scored = build(by_pair) if bound is None else []
    scored.sort(key=rank)
    built = 0 if bound is not None else len(pair_order)
    chunk = FIRST_PAIRS

    def settle(k: int, upto: int) -> None:
        """Build pairs until the ranked starts k..upto are final: no pair left unbuilt
        could score as high as the start at ``upto``."""
        nonlocal scored, built, chunk
        while built < len(pair_order):
            if len(scored) > upto:
                floor = -scored[upto][0]
                if bases[pair_order[built]] + bound < floor - 1e-6:  # type: ignore[operator]
                    return
            more = build(pair_order[built : built + chunk])
            built += chunk
            chunk *= 2
            scored = scored[:k] + sorted(scored[k:] + more, key=rank)

    # Held starts appear where they would rank, never instead of a bookable one.
    best: list[Ranked] = []
    shown_held: list[Ranked] = []

    def facts(entry: tuple[Any, ...]) -> tuple[Candidate, set[int]]:
        """A ranked start as the hard rules see it, and who holds its units."""
        _, start, prov_id, slot_id, loc_id, _, run, i, j = entry
        holders = {r[5] for r in run[i : j + 1] if r[5] is not None}
        slot = SlotFacts(slot_id, start, start + duration, True, bool(holders - {agent_id}))
        return Candidate(locations[loc_id], providers[prov_id], slot), holders

    ahead: list[tuple[Candidate, set[int]]] = []
    judge_hard = batch_judger(ctx, Scope.SLOT, HARD)
    judge_soft = batch_judger(ctx, Scope.SLOT, SOFT)
    k = 0
    while len(best) < limit:
        if k % BATCH == 0:  # the next batch of starts in their final order
            settle(k, k + BATCH - 1)
            if load is not None:  # and the resources around them
                ahead = [facts(entry) for entry in scored[k : k + BATCH]]
                ctx = load(ctx, [cand for cand, _ in ahead])
        if k >= len(scored):
            break
        # The next starts are judged together, each rule over all of them: as many as
        # could still be shown, within this batch. Judging is pure, so the starts past the
        # last one shown are judged for nothing, never differently.
        size = min(max(limit - len(best), MIN_JUDGED), BATCH - k % BATCH, len(scored) - k)
        entries = scored[k : k + size]
        judged = (
            ahead[k % BATCH : k % BATCH + size]
            if load is not None
            else [facts(entry) for entry in entries]
        )
        k += size
        hards = judge_hard(ctx, [cand for cand, _ in judged])
        shown = [shown_start(cand, hard) for (cand, _), hard in zip(judged, hards, strict=True)]
        passed = [cand for (cand, _), ok in zip(judged, shown, strict=True) if ok]
        softs = iter(judge_soft(ctx, passed))
        for entry, (cand, holders), hard, ok in zip(entries, judged, hards, shown, strict=True):
            neg, start, prov_id, slot_id, loc_id, base, *_ = entry
            if not ok:
                if misses is not None:
                    resource_miss(misses, loc_id, hard)
                continue
            assert cand.slot is not None
            held_by_other, end = cand.slot.held_by_other, cand.slot.end
            verdict = next(softs)  # its points: the option's breakdown
            holder = HELD_BY_OTHER if held_by_other else HELD_BY_ME if agent_id in holders else ""
            ranked = (neg, start, prov_id, slot_id, loc_id, end, base, verdict, holder)
            if not held_by_other:
                best.append(ranked)
                if len(best) == limit:
                    break
            elif len(shown_held) < limit:
                shown_held.append(ranked)
    if misses and len(best) < limit:  # every start was judged: say what was missing
        for loc_id in {entry[4] for entry in best}:
            misses.pop(loc_id, None)
    elif misses:
        misses.clear()
    return slot_options(
        sorted(best + shown_held, key=itemgetter(0, 1, 2)),
        ctx=ctx,
        locations=locations,
        providers=providers,
        zones=zones,
        network_notes=network_notes or {},
    )
