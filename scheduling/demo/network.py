"""Regions, locations, providers, templates, visit types and payers for the demo network."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal

from billing.models import FeeSchedule, NetworkParticipation, Payer, Plan
from scheduling.geo import ZipPoint, zip_point, zips_in_state
from scheduling.models import (
    AppointmentType,
    Capability,
    Equipment,
    Location,
    LocationClosure,
    LocationHours,
    Provider,
    Region,
    Room,
    ScheduleTemplate,
)
from scheduling.validators import npi_with_check_digit

from . import catalog


@dataclass
class Network:
    regions: list[Region] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    providers: list[Provider] = field(default_factory=list)
    appointment_types: list[AppointmentType] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)
    # What the history generator needs without re-querying M2M tables.
    location_equipment: dict[int, set[str]] = field(default_factory=dict)
    provider_caps: dict[int, set[str]] = field(default_factory=dict)
    provider_locations: dict[int, list[int]] = field(default_factory=dict)
    type_caps: dict[int, set[str]] = field(default_factory=dict)
    type_equipment: dict[int, set[str]] = field(default_factory=dict)
    region_zips: dict[int, list[ZipPoint]] = field(default_factory=dict)
    region_state: dict[int, str] = field(default_factory=dict)
    plans_by_state: dict[str | None, list[Plan]] = field(default_factory=dict)


def _location_zips(region_spec: tuple, count: int, rng: random.Random) -> list[ZipPoint]:
    _, _, state, tz, preferred = region_spec
    points = [p for p in (zip_point(z) for z in preferred) if p is not None]
    pool = [p for p in zips_in_state(state) if p.time_zone == tz and p not in points]
    rng.shuffle(pool)
    points.extend(pool)
    return points[:count]


def build_network(*, rng: random.Random, locations: int, providers: int, today: date) -> Network:
    net = Network()
    region_count = min(3, locations) if locations <= 12 else min(5, len(catalog.REGIONS))
    region_specs = catalog.REGIONS[:region_count]

    equipment = {
        code: Equipment.objects.create(code=code, name=name) for code, name in catalog.EQUIPMENT
    }
    caps = {
        code: Capability.objects.create(code=code, name=name) for code, name in catalog.CAPABILITIES
    }

    for spec in region_specs:
        code, name, state, _tz, _zips = spec
        region = Region.objects.create(code=code, name=name)
        net.regions.append(region)
        net.region_state[region.pk] = state
        net.region_zips[region.pk] = list(zips_in_state(state))

    per_region = [
        locations // region_count + (1 if i < locations % region_count else 0)
        for i in range(region_count)
    ]
    equipment_codes = [code for code, _ in catalog.EQUIPMENT]
    loc_index = 0
    for region, spec, count in zip(net.regions, region_specs, per_region, strict=True):
        for point in _location_zips(spec, count, rng):
            loc_index += 1
            loc = Location.objects.create(
                region=region,
                code=f"{spec[2].lower()}-{point.city.lower().replace(' ', '-')[:16]}-{loc_index:02d}"[
                    :32
                ],
                name=f"{point.city} Dental Care #{loc_index}",
                time_zone=point.time_zone,
                address_line=f"{100 + loc_index * 7} {rng.choice(catalog.STREETS)}",
                city=point.city,
                state=point.state,
                zip_code=point.zip_code,
                latitude=point.latitude,
                longitude=point.longitude,
                phone=f"555{loc_index:07d}",
                npi=npi_with_check_digit(f"1{loc_index:08d}"),
            )
            # Every location has at least pano or basics; scarce items by share. The first
            # location of each region gets the CBCT so each region can do implant work.
            have = {c for c in equipment_codes if rng.random() < catalog.EQUIPMENT_SHARE[c]}
            if loc_index % max(count, 1) == 1:
                have |= {"cbct", "surgical-suite"}
            loc.equipment.set([equipment[c] for c in sorted(have)])
            net.location_equipment[loc.pk] = have
            for weekday in range(5):
                LocationHours.objects.create(
                    location=loc, weekday=weekday, opens=time(7, 30), closes=time(18, 0)
                )
            if rng.random() < 0.4:
                LocationHours.objects.create(
                    location=loc, weekday=5, opens=time(8, 0), closes=time(13, 0)
                )
            for year in (today.year, today.year + 1):
                for month, day, label in catalog.HOLIDAYS:
                    LocationClosure.objects.create(
                        location=loc, date=date(year, month, day), reason=label
                    )
            for n in range(1, 5):
                room = Room.objects.create(location=loc, code=f"op{n}", name=f"Operatory {n}")
                room.equipment.set([equipment[c] for c in sorted(have)] if n == 1 else [])
            net.locations.append(loc)

    for code, name, minutes, tcaps, tequip, status, procs, dx in catalog.APPOINTMENT_TYPES:
        appt_type = AppointmentType.objects.create(
            code=code,
            name=name,
            duration_minutes=minutes,
            patient_status=status,
            typical_procedure_codes=procs,
            typical_diagnosis_codes=dx,
        )
        appt_type.required_capabilities.set([caps[c] for c in tcaps])
        appt_type.required_equipment.set([equipment[c] for c in tequip])
        net.appointment_types.append(appt_type)
        net.type_caps[appt_type.pk] = set(tcaps)
        net.type_equipment[appt_type.pk] = set(tequip)

    _build_providers(net, rng=rng, count=providers, caps=caps)
    _build_payers(net, rng=rng)
    return net


def _build_providers(
    net: Network, *, rng: random.Random, count: int, caps: dict[str, Capability]
) -> None:
    roles = catalog.PROVIDER_ROLES
    weights = [r[5] for r in roles]
    by_region: dict[int, list[Location]] = {}
    for loc in net.locations:
        by_region.setdefault(loc.region_id, []).append(loc)
    templates = []
    for i in range(count):
        # The first providers cover one general dentist and one hygienist per location,
        # so every location can take the everyday visit types.
        if i < 2 * len(net.locations):
            role = roles[0] if i % 2 == 0 else roles[2]
            home = net.locations[i // 2]
        else:
            role = rng.choices(roles, weights=weights)[0]
            home = net.locations[rng.randrange(len(net.locations))]
        name_rng = rng.random()
        languages = (
            ["en"]
            + (["es"] if name_rng < 0.3 else [])
            + (["vi"] if 0.3 <= name_rng < 0.36 else [])
            + (["zh"] if 0.36 <= name_rng < 0.4 else [])
        )
        provider = Provider.objects.create(
            npi=npi_with_check_digit(f"19{i:07d}"),
            first_name=rng.choice(catalog.FIRST_NAMES),
            last_name=rng.choice(catalog.LAST_NAMES),
            credential=role[1],
            languages=languages,
            min_patient_age=role[3],
            max_patient_age=role[4],
            accepts_new_patients=rng.random() < 0.85,
        )
        provider.capabilities.set([caps[c] for c in role[2]])
        siblings = [loc for loc in by_region[home.region_id] if loc.pk != home.pk]
        # Specialists rotate through two or three offices of their region.
        extra = rng.sample(
            siblings, k=min(len(siblings), 2 if role[0] not in {"general", "hygienist"} else 0)
        )
        served = [home, *extra]
        provider.locations.set(served)
        net.providers.append(provider)
        net.provider_caps[provider.pk] = set(role[2])
        net.provider_locations[provider.pk] = [loc.pk for loc in served]
        for weekday in range(5):
            loc = served[weekday % len(served)]
            templates.append(
                ScheduleTemplate(
                    provider=provider,
                    location=loc,
                    weekday=weekday,
                    start_time=time(8, 0),
                    end_time=time(17, 0),
                    slot_minutes=30,
                    break_start=time(12, 0),
                    break_end=time(13, 0),
                )
            )
    ScheduleTemplate.objects.bulk_create(templates)


def _build_payers(net: Network, *, rng: random.Random) -> None:
    fee_base = {
        "D0150": 95,
        "D0210": 140,
        "D0120": 60,
        "D1110": 105,
        "D0140": 75,
        "D0220": 30,
        "D2391": 185,
        "D2740": 1250,
        "D3330": 1150,
        "D0367": 310,
        "D6010": 2200,
        "D7240": 420,
        "D7210": 260,
        "D9239": 380,
        "D4341": 260,
        "D4910": 140,
        "D8660": 180,
        "D8670": 220,
        "D1120": 70,
        "D2930": 260,
        "D9230": 80,
        "D5110": 1700,
    }
    participation = []
    for name, code, plans, state in catalog.PAYERS:
        if state is not None and state not in net.region_state.values():
            continue
        payer = Payer.objects.create(
            name=name, payer_code=code, max_requests_per_minute=rng.choice([60, 120, 300])
        )
        discount = Decimal(str(rng.choice([0.72, 0.8, 0.85, 0.9])))
        FeeSchedule.objects.bulk_create(
            FeeSchedule(
                payer=payer,
                procedure_code=c,
                amount=(Decimal(v) * discount).quantize(Decimal("1.00")),
            )
            for c, v in fee_base.items()
        )
        for suffix, plan_name, kind in plans:
            plan = Plan.objects.create(
                payer=payer, code=f"{code.lower()}-{suffix}", name=plan_name, kind=kind
            )
            net.plans.append(plan)
            net.plans_by_state.setdefault(state, []).append(plan)
            for loc in net.locations:
                if state is not None and loc.state != state:
                    continue
                if state is not None or rng.random() < 0.8:
                    participation.append(NetworkParticipation(plan=plan, location=loc))
            for provider in net.providers:
                served_states = {
                    loc.state
                    for loc in net.locations
                    if loc.pk in net.provider_locations[provider.pk]
                }
                if state is not None and state not in served_states:
                    continue
                # Most providers credential with most plans; a few do not, which is
                # exactly the case an agent must not book blind.
                if rng.random() < (0.7 if state else 0.88):
                    participation.append(NetworkParticipation(plan=plan, provider=provider))
    NetworkParticipation.objects.bulk_create(participation, batch_size=2000)
