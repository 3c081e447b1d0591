"""Turns database rows into the frozen facts rules read. The only module here that queries.

Each loader does a fixed number of queries whatever the network size, so a search over
every location costs the same handful of round trips as one over a single site.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

from billing.models import NetworkParticipation
from patients.models import ClinicalFact, Coverage, Patient
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
    Preferences,
    ProviderFacts,
    RuleConfig,
    RuleContext,
    TypeFacts,
)
from .registry import RULES, RULES_BY_KEY


def load_configs() -> dict[str, RuleConfig]:
    """Defaults from the registry, overridden by whatever admins saved in RuleSetting."""
    configs = {rule.key: rule.default_config() for rule in RULES}
    for row in RuleSetting.objects.all():
        rule = RULES_BY_KEY.get(row.key)
        if rule is None:
            continue
        params = {**rule.default_params, **(row.params or {})}
        configs[row.key] = RuleConfig(enabled=row.enabled, weight=row.weight, params=params)
    return configs


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


def patient_facts(patient: Patient, *, today: date, configs: dict[str, RuleConfig]) -> PatientFacts:
    coverage = primary_coverage(patient, today)
    home = zip_point(patient.zip_code) if patient.zip_code else None
    lookback_years = int(configs["provider-accepts-new"].param("lookback_years", 3))
    since = datetime.combine(today - timedelta(days=365 * lookback_years), time.min, tzinfo=UTC)
    established: set[int] = set()
    previous: list[int] = []
    for provider_id, status in (
        Appointment.objects.filter(patient=patient)
        .filter(
            Q(status__in=Appointment.ACTIVE_STATUSES)
            | Q(status=Appointment.Status.COMPLETED, start__gte=since)
        )
        .order_by("-start")
        .values_list("provider_id", "status")
    ):
        established.add(provider_id)
        if status == Appointment.Status.COMPLETED and provider_id not in previous:
            previous.append(provider_id)
    # Continuity also remembers providers seen longer ago than the new-patient lookback.
    for provider_id in (
        Appointment.objects.filter(
            patient=patient, status=Appointment.Status.COMPLETED, start__lt=since
        )
        .order_by("-start")
        .values_list("provider_id", flat=True)[:20]
    ):
        if provider_id not in previous:
            previous.append(provider_id)
    needs = frozenset(
        ClinicalFact.objects.filter(
            patient=patient, active=True, requires_equipment__isnull=False
        ).values_list("requires_equipment__code", flat=True)
    )
    return PatientFacts(
        age=patient.age_on(today),
        language=patient.preferred_language or "en",
        home_lat=home.latitude if home else None,
        home_lon=home.longitude if home else None,
        plan_id=coverage.plan_id if coverage else None,
        plan_name=str(coverage.plan) if coverage else "",
        established_provider_ids=frozenset(established),
        previous_provider_ids=tuple(previous),
        needs_equipment=needs,
    )


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
    for room_id, loc_id in Room.objects.filter(location_id__in=ids).values_list(
        "id", "location_id"
    ):
        rooms[loc_id][room_id] = set()
    room_loc = {room_id: loc_id for loc_id, by_room in rooms.items() for room_id in by_room}
    for room_id, code in Room.equipment.through.objects.filter(
        room_id__in=list(room_loc)
    ).values_list("room_id", "equipment__code"):
        rooms[room_loc[room_id]][room_id].add(code)
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
    ids = [r[0] for r in rows]
    caps: dict[int, set[str]] = defaultdict(set)
    for prov_id, code in Provider.capabilities.through.objects.filter(
        provider_id__in=ids
    ).values_list("provider_id", "capability__code"):
        caps[prov_id].add(code)
    served: dict[int, list[int]] = defaultdict(list)
    for prov_id, loc_id in (
        Provider.locations.through.objects.filter(provider_id__in=ids, location__active=True)
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
