"""Turns database rows into the frozen facts rules read. The only modules here that query
are this one, ``config_loading`` and ``snapshot``.

Each loader does a fixed number of queries whatever the network size, so a search over
every location costs the same handful of round trips as one over a single site.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q

from billing.models import NetworkParticipation, Payer, Plan
from config.prepared import prepared_cursor
from patients.models import ClinicalFact, Coverage, Patient, PatientIdentifier
from scheduling.geo import zip_point
from scheduling.models import (
    Appointment,
    Equipment,
    Location,
    LocationClosure,
    LocationHours,
    Provider,
    ResourceBooking,
    Room,
    TimeOff,
)

from .base import (
    LocationFacts,
    PatientFacts,
    PatientVisit,
    ProviderFacts,
    RuleConfig,
)
from .config_loading import licensed_until, load_configs, load_names, type_facts, usable_params
from .search_sql import SEARCH_ROWS_SQL

__all__ = ["licensed_until", "load_configs", "load_names", "type_facts", "usable_params"]


def primary_coverage(patient: Patient, on: date) -> Coverage | None:
    rows = (
        Coverage.objects.filter(patient=patient, active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gte=on))
        .select_related("plan__payer")
        .order_by("priority")
    )
    return rows.first()


@dataclass(frozen=True)
class PatientRows:
    """What a search (or a booking) reads about the patient, plus, for a search, the
    network version, the plan's network and the absences inside the search's dates."""

    coverage: tuple[int, str] | None  # primary plan id and name on the day
    visits: list[tuple[int, str, datetime]]  # provider, status, start; most recent first
    needs: frozenset[str]  # equipment codes the active clinical facts require
    has_mrn: bool  # a chart in a location's own system
    active: tuple[PatientVisit, ...]  # booked or arrived, not yet over
    stamp: tuple[Any, ...] | None = None  # the network's version (PostgreSQL only)
    # (location ids, provider ids) in network for the plan; None when not asked.
    network: tuple[frozenset[int], frozenset[int]] | None = None
    closures: dict[int, frozenset[date]] = field(default_factory=dict)
    time_off: dict[int, tuple[tuple[datetime, datetime], ...]] = field(default_factory=dict)
    # Locations with an active room booking or block around the dates; None: not read
    # (the portable path), so the slot search asks for the starts' own span instead.
    room_blocked: frozenset[int] | None = None


def absence_window(first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """The UTC span whose time off can touch a slot on these local dates: a day's slots
    span up to a day either side of UTC midnight in the location's zone."""
    return (
        datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=UTC),
        datetime.combine(last_day + timedelta(days=2), time.min, tzinfo=UTC),
    )


def absence_rows(
    first_day: date,
    last_day: date,
    *,
    location_ids: Iterable[int] | None = None,
    provider_ids: Iterable[int] | None = None,
) -> tuple[dict[int, frozenset[date]], dict[int, tuple[tuple[datetime, datetime], ...]]]:
    """Closure days between two local dates and time off around them, by location and
    by provider (all of the network's when no ids are given)."""
    closures = LocationClosure.objects.filter(date__range=(first_day, last_day))
    window_start, window_end = absence_window(first_day, last_day)
    time_off = TimeOff.objects.filter(ends_at__gt=window_start, starts_at__lt=window_end)
    if location_ids is not None:
        closures = closures.filter(location_id__in=list(location_ids))
    if provider_ids is not None:
        time_off = time_off.filter(provider_id__in=list(provider_ids))
    closed: dict[int, set[date]] = defaultdict(set)
    for loc_id, day in closures.values_list("location_id", "date"):
        closed[loc_id].add(day)
    off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for prov_id, starts_at, ends_at in time_off.values_list("provider_id", "starts_at", "ends_at"):
        off[prov_id].append((starts_at, ends_at))
    return (
        {pk: frozenset(days) for pk, days in closed.items()},
        {pk: tuple(sorted(spans)) for pk, spans in off.items()},
    )


def _rows_portable(
    patient: Patient,
    today: date,
    network_on: date | None,
    days: tuple[date, date] | None,
    absences: bool = True,
) -> PatientRows:
    coverage = primary_coverage(patient, today)
    plan_id = coverage.plan_id if coverage else None
    closures, time_off = absence_rows(*days) if days and absences else ({}, {})
    room_blocked = None
    if days:
        ws, we = absence_window(*days)
        room_blocked = frozenset(
            ResourceBooking.objects.filter(
                active=True, room__isnull=False, end__gt=ws, start__lt=we
            ).values_list("room__location_id", flat=True)
        )
    return PatientRows(
        coverage=(coverage.plan_id, str(coverage.plan)) if coverage else None,
        visits=list(
            Appointment.objects.filter(
                patient=patient,
                status__in=[*Appointment.ACTIVE_STATUSES, Appointment.Status.COMPLETED],
            )
            .order_by("-start")
            .values_list("provider_id", "status", "start")
        ),
        needs=frozenset(
            ClinicalFact.objects.filter(
                patient=patient, active=True, requires_equipment__isnull=False
            ).values_list("requires_equipment__code", flat=True)
        ),
        has_mrn=PatientIdentifier.objects.filter(
            patient=patient, kind=PatientIdentifier.Kind.MRN, location__isnull=False
        ).exists(),
        active=active_visits(patient, since=datetime.combine(today, time.min, tzinfo=UTC)),
        network=None if network_on is None else network_for_plan(plan_id, network_on),
        closures=closures,
        time_off=time_off,
        room_blocked=room_blocked,
    )


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _rows_postgres(
    patient: Patient,
    today: date,
    network_on: date | None,
    days: tuple[date, date] | None,
    absences: bool = True,
) -> PatientRows:
    """The same reads in one round trip: on a busy server each trip costs more than the
    queries themselves. Plan names follow Plan.__str__ ("<payer> <plan>"); times come
    back as integer microseconds since the epoch."""
    window = absence_window(*days) if days else (None, None)
    db = f"{connection.alias}:{connection.settings_dict.get('NAME')}"
    held = _networks.get(db)
    if held is not None and held[1] != network_on:
        held = None
    params: dict[str, Any] = {
        "p": patient.pk,
        "d": today,
        "since": datetime.combine(today - timedelta(days=1), time.min, tzinfo=UTC),
        "on": network_on,
        "first": days[0] if days else None,
        "last": days[1] if days else None,
        "ws": window[0],
        "we": window[1],
        "mrn": PatientIdentifier.Kind.MRN.value,
        "absences": bool(days and absences),
        "known": held[0] if held else None,
        "known_plans": "{" + ",".join(map(str, held[2])) + "}" if held else "{}",
    }
    with prepared_cursor() as cursor:
        cursor.execute(SEARCH_ROWS, params)
        row = cursor.fetchone()
    assert row is not None
    version, coverage, visits, needs, has_mrn, active, network, closed, off, blocked = row
    coverage = _json(coverage)
    plan_id = int(coverage[0]) if coverage else None
    ids: tuple[frozenset[int], frozenset[int]] | None = None
    if network_on is not None:
        if network is None:  # unchanged since this process read it (see the statement)
            assert held is not None and plan_id is not None
            ids = held[2][plan_id]
        else:
            network = _json(network)
            ids = (frozenset(network[0]), frozenset(network[1]))
            if version is not None and plan_id is not None:
                if held is None or held[0] != version:
                    held = _networks[db] = (version, network_on, {})
                held[2][plan_id] = ids
    closures: dict[int, set[date]] = defaultdict(set)
    for loc_id, day in _json(closed) or ():
        closures[loc_id].add(date.fromisoformat(day))
    time_off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for prov_id, lo, hi in _json(off) or ():
        time_off[prov_id].append((_at(lo), _at(hi)))
    return PatientRows(
        coverage=(int(coverage[0]), str(coverage[1])) if coverage else None,
        visits=[(pid, status, _at(us)) for pid, status, us in _json(visits)],
        needs=frozenset(_json(needs)),
        has_mrn=bool(has_mrn),
        active=tuple(
            PatientVisit(pk, _at(lo), _at(hi), name, zone)
            for pk, lo, hi, name, zone in _json(active)
        ),
        stamp=None if version is None else (version,),
        network=ids,
        closures={pk: frozenset(v) for pk, v in closures.items()},
        time_off={pk: tuple(sorted(v)) for pk, v in time_off.items()},
        room_blocked=frozenset(_json(blocked) or ()) if days else None,
    )


# Per database: (network version, day, plan -> its in-network location and provider ids)
# as last read, so a search of a plan seen before at that version skips reading them (and
# looks up its plan's view of the network by the very same sets). Migration 0023 makes a
# change of a plan's network move the version.
_networks: dict[str, tuple[int, date, dict[int, tuple[frozenset[int], frozenset[int]]]]] = {}


def _at(micros: int) -> datetime:
    # Positional: the keyword form of timedelta costs twice as much, per row read.
    return EPOCH + timedelta(0, 0, micros)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_TABLES = {
    "coverage": Coverage._meta.db_table,
    "plan": Plan._meta.db_table,
    "payer": Payer._meta.db_table,
    "appointment": Appointment._meta.db_table,
    "location": Location._meta.db_table,
    "fact": ClinicalFact._meta.db_table,
    "equipment": Equipment._meta.db_table,
    "identifier": PatientIdentifier._meta.db_table,
    "participation": NetworkParticipation._meta.db_table,
    "closure": LocationClosure._meta.db_table,
    "time_off": TimeOff._meta.db_table,
    "booking": ResourceBooking._meta.db_table,
    "room": Room._meta.db_table,
}
SEARCH_ROWS = SEARCH_ROWS_SQL.format(**_TABLES)


def search_rows(
    patient: Patient,
    *,
    today: date,
    network_on: date | None = None,
    days: tuple[date, date] | None = None,
    absences: bool = True,
) -> PatientRows:
    """The patient's rows; with ``network_on``, the plan's network on that day; with
    ``days`` (local dates, inclusive), the locations with a room block around them and,
    unless ``absences`` is False, every closure and time off around them (a slot search
    reads only its pairs' absences, with their units)."""
    read = _rows_postgres if connection.vendor == "postgresql" else _rows_portable
    return read(patient, today, network_on, days, absences)


def patient_facts(
    patient: Patient,
    *,
    today: date,
    configs: dict[str, RuleConfig],
    rows: PatientRows | None = None,
) -> PatientFacts:
    """The patient as the rules see them, from ``rows`` when the caller read them."""
    rows = rows or search_rows(patient, today=today)
    home = zip_point(patient.zip_code) if patient.zip_code else None
    lookback_years = int(configs["provider-accepts-new"].param("lookback_years", 3))
    since = datetime.combine(today - timedelta(days=365 * lookback_years), time.min, tzinfo=UTC)
    established: set[int] = set()
    seen_group = False
    previous: list[int] = []
    for provider_id, status, start in rows.visits:  # most recent first
        recent = start >= since
        if status == Appointment.Status.BOOKED or recent:
            established.add(provider_id)
        if status != Appointment.Status.BOOKED and recent:
            seen_group = True
        # Continuity also remembers providers seen longer ago than the lookback.
        if status == Appointment.Status.COMPLETED and provider_id not in previous:
            previous.append(provider_id)
    coverage = rows.coverage
    return PatientFacts(
        age=patient.age_on(today),
        language=patient.preferred_language or "en",
        home_lat=home.latitude if home else None,
        home_lon=home.longitude if home else None,
        plan_id=coverage[0] if coverage else None,
        plan_name=coverage[1] if coverage else "",
        established_provider_ids=frozenset(established),
        established_with_group=seen_group,
        # A chart (MRN) in a location's own system records care from before the hub.
        has_chart=seen_group or rows.has_mrn,
        previous_provider_ids=tuple(previous),
        needs_equipment=rows.needs,
        active_visits=rows.active,
        state=(patient.state or "").strip().upper(),
    )


def active_visits(patient: Patient, *, since: datetime) -> tuple[PatientVisit, ...]:
    """The patient's booked or arrived appointments ending after ``since`` (a day before
    the search's local today, so a visit earlier today in any zone is included)."""
    rows = (
        Appointment.objects.filter(
            patient=patient,
            status__in=Appointment.ACTIVE_STATUSES,
            end__gt=since - timedelta(days=1),
        )
        .order_by("start")
        .values_list("id", "start", "end", "location__name", "location__time_zone")
    )
    return tuple(PatientVisit(*row) for row in rows)


def _in_network_ids(plan_id: int | None, on: date, field: str) -> set[int]:
    if plan_id is None:
        return set()
    rows = (
        NetworkParticipation.objects.filter(plan_id=plan_id, in_network=True)
        .filter(**{f"{field}__isnull": False})
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gte=on))
    )
    return set(rows.values_list(f"{field}_id", flat=True))


def location_facts(
    *, plan_id: int | None, on: date, location_ids: Iterable[int] | None = None
) -> dict[int, LocationFacts]:
    locations = Location.objects.filter(active=True)
    if location_ids is not None:
        locations = locations.filter(pk__in=list(location_ids))
    rows = list(
        locations.values_list("id", "name", "time_zone", "region_id", "latitude", "longitude")
    )
    ids = [r[0] for r in rows]
    equipment: dict[int, set[str]] = defaultdict(set)
    for loc_id, code in Location.equipment.through.objects.filter(location_id__in=ids).values_list(
        "location_id", "equipment__code"
    ):
        equipment[loc_id].add(code)
    rooms: dict[int, dict[int, set[str]]] = defaultdict(dict)
    # One LEFT JOIN: a room without equipment still counts as a room (code is None).
    for room_id, loc_id, code in Room.objects.filter(location_id__in=ids).values_list(
        "id", "location_id", "equipment__code"
    ):
        codes = rooms[loc_id].setdefault(room_id, set())
        if code is not None:
            codes.add(code)
    hours: dict[int, dict[int, tuple[time, time]]] = defaultdict(dict)
    for loc_id, weekday, opens, closes in LocationHours.objects.filter(
        location_id__in=ids
    ).values_list("location_id", "weekday", "opens", "closes"):
        hours[loc_id][weekday] = (opens, closes)
    in_network = _in_network_ids(plan_id, on, "location")
    return {
        loc_id: LocationFacts(
            id=loc_id,
            name=name,
            time_zone=tz,
            region_id=region_id,
            latitude=lat,
            longitude=lon,
            equipment=frozenset(equipment[loc_id]),
            rooms=tuple(frozenset(codes) for codes in rooms[loc_id].values()),
            hours=hours[loc_id],
            in_network=None if plan_id is None else loc_id in in_network,
        )
        for loc_id, name, tz, region_id, lat, lon in rows
    }


def provider_display_name(first: str, last: str, credential: str) -> str:
    # Same shape as Provider.__str__, without loading model instances.
    title = "Dr. " if credential in {"DDS", "DMD", "MD", "DO"} else ""
    return f"{title}{first} {last}".strip()


def provider_facts(
    *, plan_id: int | None, on: date, provider_ids: Iterable[int] | None = None
) -> tuple[dict[int, ProviderFacts], dict[int, list[int]]]:
    """Providers' facts, and which active locations each serves."""
    providers = Provider.objects.filter(active=True)
    if provider_ids is not None:
        providers = providers.filter(pk__in=list(provider_ids))
    rows = list(
        providers.values_list(
            "id",
            "first_name",
            "last_name",
            "credential",
            "languages",
            "min_patient_age",
            "max_patient_age",
            "accepts_new_patients",
        )
    )
    # Filter the link tables by the same condition, not by a list of hundreds of ids:
    # one join instead of hundreds of bound parameters to build and send.
    scope = (
        {"provider__active": True}
        if provider_ids is None
        else {"provider_id__in": [r[0] for r in rows]}
    )
    caps: dict[int, set[str]] = defaultdict(set)
    for prov_id, code in Provider.capabilities.through.objects.filter(**scope).values_list(
        "provider_id", "capability__code"
    ):
        caps[prov_id].add(code)
    served: dict[int, list[int]] = defaultdict(list)
    for prov_id, loc_id in (
        Provider.locations.through.objects.filter(**scope, location__active=True)
        .order_by("provider_id", "location_id")
        .values_list("provider_id", "location_id")
    ):
        served[prov_id].append(loc_id)
    in_network = _in_network_ids(plan_id, on, "provider")
    facts = {
        prov_id: ProviderFacts(
            id=prov_id,
            name=provider_display_name(first, last, credential),
            capabilities=frozenset(caps[prov_id]),
            languages=tuple(str(x).lower() for x in (languages or [])),
            min_age=min_age,
            max_age=max_age,
            accepts_new_patients=accepts_new,
            in_network=None if plan_id is None else prov_id in in_network,
        )
        for prov_id, first, last, credential, languages, min_age, max_age, accepts_new in rows
    }
    return facts, served


def network_for_plan(plan_id: int | None, on: date) -> tuple[frozenset[int], frozenset[int]]:
    """(location ids, provider ids) in network for the plan on the date, in one query."""
    if plan_id is None:
        return frozenset(), frozenset()
    locations: set[int] = set()
    providers: set[int] = set()
    for loc_id, prov_id in (
        NetworkParticipation.objects.filter(plan_id=plan_id, in_network=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gte=on))
        .values_list("location_id", "provider_id")
    ):
        if loc_id is not None:
            locations.add(loc_id)
        if prov_id is not None:
            providers.add(prov_id)
    return frozenset(locations), frozenset(providers)
