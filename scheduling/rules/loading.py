"""Turns database rows into the frozen facts rules read. The only module here that queries.

Each loader does a fixed number of queries whatever the network size, so a search over
every location costs the same handful of round trips as one over a single site.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q

from billing.models import NetworkParticipation, Payer, Plan
from patients.models import ClinicalFact, Coverage, Patient, PatientIdentifier
from scheduling.geo import zip_point
from scheduling.models import (
    Appointment,
    AppointmentType,
    Capability,
    Equipment,
    Location,
    LocationHours,
    Provider,
    Room,
    RuleSetting,
)

from .base import (
    LocationFacts,
    Names,
    PatientFacts,
    PatientVisit,
    Preferences,
    ProviderFacts,
    Rule,
    RuleConfig,
    RuleContext,
    TypeFacts,
)
from .registry import RULES, RULES_BY_KEY

logger = logging.getLogger(__name__)


def load_configs() -> dict[str, RuleConfig]:
    """Defaults from the registry, overridden by whatever admins saved in RuleSetting."""
    configs = {rule.key: rule.default_config() for rule in RULES}
    for row in RuleSetting.objects.all():
        rule = RULES_BY_KEY.get(row.key)
        if rule is None:
            continue
        params = usable_params(rule, row.params)
        configs[row.key] = RuleConfig(enabled=row.enabled, weight=row.weight, params=params)
    return configs


def usable_params(rule: Rule, raw: Any) -> dict[str, Any]:
    """The rule's defaults overridden by each stored param that is valid.

    The admin form refuses bad params, but a row written by SQL or a fixture skips it: an
    unusable value falls back to that param's default with a warning (rule key and param
    name only; params never hold patient data), so one bad row never breaks a search.
    """
    params = dict(rule.default_params)
    if not isinstance(raw, dict):
        if raw not in (None, ""):
            logger.warning("RuleSetting %s: params is not an object; using defaults", rule.key)
        return params
    specs = {spec.name: spec for spec in rule.param_specs}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None:
            logger.warning("RuleSetting %s: unknown param %r ignored", rule.key, str(name)[:40])
            continue
        try:
            params[name] = spec.coerce(value)
        except ValueError:
            logger.warning(
                "RuleSetting %s: invalid value for param %s; using the default", rule.key, name
            )
    return params


def load_names() -> Names:
    return Names(
        equipment=dict(Equipment.objects.values_list("code", "name")),
        capabilities=dict(Capability.objects.values_list("code", "name")),
    )


def type_facts(appointment_type: AppointmentType) -> TypeFacts:
    return TypeFacts(
        id=appointment_type.pk,
        name=appointment_type.name,
        duration_minutes=appointment_type.duration_minutes,
        capabilities=frozenset(
            appointment_type.required_capabilities.values_list("code", flat=True)
        ),
        equipment=frozenset(appointment_type.required_equipment.values_list("code", flat=True)),
        patient_status=appointment_type.patient_status,
    )


def primary_coverage(patient: Patient, on: date) -> Coverage | None:
    rows = (
        Coverage.objects.filter(patient=patient, active=True)
        .filter(Q(effective_from__isnull=True) | Q(effective_from__lte=on))
        .filter(Q(effective_until__isnull=True) | Q(effective_until__gte=on))
        .select_related("plan__payer")
        .order_by("priority")
    )
    return rows.first()


PatientRows = tuple[tuple[int, str] | None, list[tuple[int, str, datetime]], frozenset[str]]


def _patient_rows_portable(patient: Patient, today: date) -> PatientRows:
    coverage = primary_coverage(patient, today)
    visits = list(
        Appointment.objects.filter(
            patient=patient,
            status__in=[*Appointment.ACTIVE_STATUSES, Appointment.Status.COMPLETED],
        )
        .order_by("-start")
        .values_list("provider_id", "status", "start")
    )
    needs = frozenset(
        ClinicalFact.objects.filter(
            patient=patient, active=True, requires_equipment__isnull=False
        ).values_list("requires_equipment__code", flat=True)
    )
    return ((coverage.plan_id, str(coverage.plan)) if coverage else None), visits, needs


def _patient_rows_postgres(patient: Patient, today: date) -> PatientRows:
    """The same three reads in one round trip: on a busy server each trip costs more
    than the query itself. Plan names follow Plan.__str__ ("<payer> <plan>")."""
    t = {
        "coverage": Coverage._meta.db_table,
        "plan": Plan._meta.db_table,
        "payer": Payer._meta.db_table,
        "appointment": Appointment._meta.db_table,
        "fact": ClinicalFact._meta.db_table,
        "equipment": Equipment._meta.db_table,
    }
    sql = f"""
        SELECT
          (SELECT json_build_array(c.plan_id, py.name || ' ' || pl.name)
             FROM {t["coverage"]} c
             JOIN {t["plan"]} pl ON pl.id = c.plan_id
             JOIN {t["payer"]} py ON py.id = pl.payer_id
            WHERE c.patient_id = %(p)s AND c.active
              AND (c.effective_from IS NULL OR c.effective_from <= %(d)s)
              AND (c.effective_until IS NULL OR c.effective_until >= %(d)s)
            ORDER BY c.priority LIMIT 1),
          (SELECT coalesce(json_agg(json_build_array(
                      a.provider_id, a.status, (extract(epoch FROM a.start) * 1000000)::bigint)
                   ORDER BY a.start DESC), '[]')
             FROM {t["appointment"]} a
            WHERE a.patient_id = %(p)s AND a.status IN ('booked', 'arrived', 'completed')),
          (SELECT coalesce(json_agg(DISTINCT e.code), '[]')
             FROM {t["fact"]} f JOIN {t["equipment"]} e ON e.id = f.requires_equipment_id
            WHERE f.patient_id = %(p)s AND f.active)
    """  # noqa: S608 - table names from model metadata; values are bound parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, {"p": patient.pk, "d": today})
        row = cursor.fetchone()
    assert row is not None
    coverage_json, visits_json, needs_json = (
        json.loads(v) if isinstance(v, str) else v for v in row
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    visits = [(pid, status, epoch + timedelta(microseconds=us)) for pid, status, us in visits_json]
    coverage = (int(coverage_json[0]), str(coverage_json[1])) if coverage_json else None
    return coverage, visits, frozenset(needs_json)


def patient_facts(patient: Patient, *, today: date, configs: dict[str, RuleConfig]) -> PatientFacts:
    read = _patient_rows_postgres if connection.vendor == "postgresql" else _patient_rows_portable
    coverage, visits, needs = read(patient, today)
    home = zip_point(patient.zip_code) if patient.zip_code else None
    lookback_years = int(configs["provider-accepts-new"].param("lookback_years", 3))
    since = datetime.combine(today - timedelta(days=365 * lookback_years), time.min, tzinfo=UTC)
    established: set[int] = set()
    seen_group = False
    previous: list[int] = []
    for provider_id, status, start in visits:  # most recent first
        recent = start >= since
        if status == Appointment.Status.BOOKED or recent:
            established.add(provider_id)
        if status != Appointment.Status.BOOKED and recent:
            seen_group = True
        # Continuity also remembers providers seen longer ago than the lookback.
        if status == Appointment.Status.COMPLETED and provider_id not in previous:
            previous.append(provider_id)
    # A chart (MRN) in a location's own system records care from before the hub.
    has_chart = seen_group or (
        PatientIdentifier.objects.filter(
            patient=patient, kind=PatientIdentifier.Kind.MRN, location__isnull=False
        ).exists()
    )
    return PatientFacts(
        age=patient.age_on(today),
        language=patient.preferred_language or "en",
        home_lat=home.latitude if home else None,
        home_lon=home.longitude if home else None,
        plan_id=coverage[0] if coverage else None,
        plan_name=coverage[1] if coverage else "",
        established_provider_ids=frozenset(established),
        established_with_group=seen_group,
        has_chart=has_chart,
        previous_provider_ids=tuple(previous),
        needs_equipment=needs,
        active_visits=active_visits(patient, since=datetime.combine(today, time.min, tzinfo=UTC)),
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


def rule_context(
    *,
    patient: Patient,
    appointment_type: AppointmentType,
    now: datetime,
    today: date,
    prefs: Preferences | None = None,
    network_override: bool = False,
) -> RuleContext:
    configs = load_configs()
    return RuleContext(
        patient=patient_facts(patient, today=today, configs=configs),
        appointment_type=type_facts(appointment_type),
        now=now,
        prefs=prefs or Preferences(),
        names=load_names(),
        configs=configs,
        network_override=network_override,
    )


# ---------------------------------------------------------------------------
# Network snapshot for searches
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class NetworkSnapshot:
    """Everything about the network a search needs that does not depend on the patient."""

    locations: dict[int, LocationFacts]  # in_network left None: it depends on the plan
    providers: dict[int, ProviderFacts]
    served: dict[int, list[int]]
    names: Names
    configs: dict[str, RuleConfig]
    types: dict[int, TypeFacts]
    # Facts with in_network filled in, per set of in-network ids (a few plans matter).
    plan_views: dict[Any, tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]] = field(
        default_factory=dict, compare=False
    )
    # Patient-independent results derived from this snapshot (keyed by their inputs).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)

    def for_network(
        self, locations_in: frozenset[int], providers_in: frozenset[int]
    ) -> tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]:
        """The facts as seen by a patient whose plan covers these locations/providers."""
        key = (locations_in, providers_in)
        view = self.plan_views.get(key)
        if view is None:
            if len(self.plan_views) > 64:
                self.plan_views.clear()
            view = (
                {pk: replace(f, in_network=pk in locations_in) for pk, f in self.locations.items()},
                {pk: replace(f, in_network=pk in providers_in) for pk, f in self.providers.items()},
            )
            self.plan_views[key] = view
        return view


_snapshots: dict[str, tuple[tuple[Any, ...], NetworkSnapshot]] = {}


def _network_stamp() -> tuple[Any, ...] | None:
    """The network's version, one single-row read (PostgreSQL; None elsewhere: no cache).

    Migration 0005 keeps it: a statement-level trigger on every table the snapshot is
    built from sets it from a sequence, so any write, however made, changes it, and a
    rolled-back write leaves the old value, whose snapshot is still the truth.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM scheduling_network_version WHERE id = 1")
        row = cursor.fetchone()
    return (row[0],) if row else None


def _all_type_facts() -> dict[int, TypeFacts]:
    caps: dict[int, set[str]] = defaultdict(set)
    for type_id, code in AppointmentType.required_capabilities.through.objects.values_list(
        "appointmenttype_id", "capability__code"
    ):
        caps[type_id].add(code)
    equipment: dict[int, set[str]] = defaultdict(set)
    for type_id, code in AppointmentType.required_equipment.through.objects.values_list(
        "appointmenttype_id", "equipment__code"
    ):
        equipment[type_id].add(code)
    return {
        pk: TypeFacts(
            id=pk,
            name=name,
            duration_minutes=minutes,
            capabilities=frozenset(caps[pk]),
            equipment=frozenset(equipment[pk]),
            patient_status=status,
        )
        for pk, name, minutes, status in AppointmentType.objects.values_list(
            "id", "name", "duration_minutes", "patient_status"
        )
    }


def network_snapshot(*, on: date) -> NetworkSnapshot:
    """The network's facts, rebuilt only when a row behind them changed (PostgreSQL)."""
    stamp = _network_stamp()
    key = f"{connection.alias}:{connection.settings_dict.get('NAME')}"
    if stamp is not None:
        cached = _snapshots.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    providers, served = provider_facts(plan_id=None, on=on)
    snapshot = NetworkSnapshot(
        locations=location_facts(plan_id=None, on=on),
        providers=providers,
        served=dict(served),
        names=load_names(),
        configs=load_configs(),
        types=_all_type_facts(),
    )
    if stamp is not None:
        _snapshots[key] = (stamp, snapshot)
    return snapshot


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
