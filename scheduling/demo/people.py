"""Synthetic patients with identifiers, coverage and clinical context; demo users."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth.models import Group, User

from config.roles import ADMIN, AGENT, BILLER, COMPLIANCE, OPS_MANAGER
from patients.models import (
    ClinicalFact,
    Coverage,
    DuplicateCandidate,
    Patient,
    PatientIdentifier,
    PatientName,
)
from scheduling.geo import ZipPoint, miles_between
from scheduling.models import AgentProfile, Equipment

from . import catalog
from .network import Network

DEMO_PASSWORD = "carehub-demo"  # noqa: S105 (documented demo login, synthetic data only)
HISTORY_AGENTS = 9


# First names by sex, so a patient's name and recorded sex agree (QA found "Thomas Harris:
# Female"). Kept here rather than in catalog.py, which others edit; the "O" (other) patients
# draw from both lists.
FEMALE_FIRST_NAMES = [
    "Olivia", "Emma", "Ava", "Sophia", "Isabella", "Mia", "Amelia", "Harper", "Evelyn",
    "Camila", "Luna", "Sofia", "Valentina", "Aria", "Scarlett", "Linh", "Mei", "Priya",
    "Fatima", "Grace", "Chloe", "Zoe", "Nora", "Lucia", "Hannah", "Maria", "Ana", "Rosa",
    "Margaret", "Patricia",
]  # fmt: skip
MALE_FIRST_NAMES = [
    "Liam", "Noah", "Mateo", "Elijah", "Lucas", "Santiago", "Ethan", "James", "Benjamin",
    "Daniel", "Henry", "Alexander", "Sebastian", "Jack", "Owen", "Wei", "Arjun", "Omar",
    "Samuel", "David", "Joseph", "Carlos", "Miguel", "Isaac", "Jose", "Luis", "Thomas",
    "Robert", "Michael", "Minh",
]  # fmt: skip


def first_name_for(rng: random.Random, sex: str) -> str:
    if sex == "F":
        return rng.choice(FEMALE_FIRST_NAMES)
    if sex == "M":
        return rng.choice(MALE_FIRST_NAMES)
    return rng.choice(FEMALE_FIRST_NAMES + MALE_FIRST_NAMES)


def ehr_system(location_code: str) -> str:
    return f"{location_code.upper()}-EHR"


def pms_system(location_code: str) -> str:
    return f"{location_code.upper()}-PMS"


def build_users(net: Network) -> dict[str, list[User]]:
    roles = (AGENT, OPS_MANAGER, BILLER, COMPLIANCE, ADMIN)
    groups = {name: Group.objects.get(name=name) for name in roles}
    users: dict[str, list[User]] = {name: [] for name in roles}

    def make(
        username: str, role: str, first: str, last: str, region_index: int | None = None
    ) -> User:
        user = User.objects.create_user(
            username=username,
            password=DEMO_PASSWORD,
            first_name=first,
            last_name=last,
            is_staff=role == ADMIN,
            is_superuser=role == ADMIN,
        )
        user.groups.add(groups[role])
        if role == AGENT:
            region = (
                net.regions[region_index % len(net.regions)] if region_index is not None else None
            )
            AgentProfile.objects.create(user=user, home_region=region)
        users[role].append(user)
        return user

    make("agent", AGENT, "Alex", "Agent", 0)
    make("agent2", AGENT, "Blair", "Agent", 1)
    for n in range(1, HISTORY_AGENTS + 1):
        make(f"agent{n:02d}", AGENT, "Agent", f"{n:02d}", n)
    make("ops", OPS_MANAGER, "Olive", "Ops")
    make("biller", BILLER, "Bill", "Coder")
    make("compliance", COMPLIANCE, "Priya", "Privacy")
    make("admin", ADMIN, "Ada", "Admin")
    return users


def _closest(points: list[ZipPoint], lat: float, lon: float, count: int = 25) -> list[ZipPoint]:
    def distance(point: ZipPoint) -> float:
        return miles_between(point.latitude, point.longitude, lat, lon)

    return sorted(points, key=distance)[:count]


def build_patients(net: Network, *, rng: random.Random, count: int, today: date) -> list[Patient]:
    equipment = {e.code: e for e in Equipment.objects.all()}
    locations_by_region: dict[int, list] = {}
    for loc in net.locations:
        locations_by_region.setdefault(loc.region_id, []).append(loc)
    nearby_zips = {
        loc.pk: _closest(net.region_zips[loc.region_id], loc.latitude or 0.0, loc.longitude or 0.0)
        for loc in net.locations
    }
    rows = []
    homes = []
    for i in range(count):
        region = net.regions[i % len(net.regions)]
        region_locs = locations_by_region[region.pk]
        anchor = region_locs[rng.randrange(len(region_locs))]
        # Patients live near an office: pick among the ZIPs closest to it.
        home_zip = rng.choice(nearby_zips[anchor.pk])
        age = rng.choices(
            [rng.randint(2, 17), rng.randint(18, 64), rng.randint(65, 92)], weights=[22, 60, 18]
        )[0]
        dob = today - timedelta(days=age * 365 + rng.randint(0, 364))
        lang = rng.choices(["en", "es", "vi", "zh"], weights=[80, 15, 3, 2])[0]
        sex = rng.choice(["F", "M"]) if rng.random() > 0.01 else "O"
        rows.append(
            Patient(
                first_name=first_name_for(rng, sex),
                last_name=rng.choice(catalog.LAST_NAMES),
                date_of_birth=dob,
                sex=sex,
                phone=f"{rng.randint(201, 989)}555{rng.randint(0, 9999):04d}",
                email=f"patient{i}@example.test" if rng.random() < 0.7 else "",
                address_line=f"{rng.randint(10, 9999)} {rng.choice(catalog.STREETS)}",
                city=home_zip.city,
                state=home_zip.state,
                zip_code=home_zip.zip_code,
                preferred_language=lang,
                home_location=anchor,
                consent_sms=rng.random() < 0.6,
                consent_email=rng.random() < 0.5,
            )
        )
        homes.append(anchor)
    patients = Patient.objects.bulk_create(rows, batch_size=2000)
    PatientName.remember(patients)

    identifiers, coverages, facts = [], [], []
    # Ids are built from a location's position, not its pk, so a reseed is identical.
    loc_index = {loc.pk: n for n, loc in enumerate(net.locations)}
    recorded = datetime.combine(today - timedelta(days=200), datetime.min.time(), tzinfo=UTC)
    for i, (patient, home) in enumerate(zip(patients, homes, strict=True)):
        seen_at = [home]
        if rng.random() < 0.12:
            other = rng.choice(net.locations)
            if other.pk != home.pk:
                seen_at.append(other)
        for loc in seen_at:
            identifiers.append(
                PatientIdentifier(
                    patient=patient,
                    system=ehr_system(loc.code),
                    kind="MR",
                    value=f"MR{i:07d}{loc_index[loc.pk]:02d}",
                    location=loc,
                )
            )
            identifiers.append(
                PatientIdentifier(
                    patient=patient,
                    system=pms_system(loc.code),
                    kind="PI",
                    value=f"P{i:07d}{loc_index[loc.pk]:02d}",
                    location=loc,
                )
            )
        if rng.random() < 0.92:
            plans = net.plans_by_state.get(None, []) + net.plans_by_state.get(home.state, [])
            plan = rng.choice(plans)
            coverages.append(
                Coverage(
                    patient=patient,
                    plan=plan,
                    member_id=f"{plan.payer.payer_code[-3:]}{i:09d}",
                    group_number=f"G{rng.randint(1000, 9999)}",
                    priority=1,
                    relationship="18" if patient.age_on(today) >= 18 else "19",
                    subscriber_first_name=patient.first_name,
                    subscriber_last_name=patient.last_name,
                    subscriber_dob=patient.date_of_birth,
                    effective_from=date(today.year, 1, 1),
                )
            )
            if rng.random() < 0.08:
                second = rng.choice(net.plans_by_state.get(None, []))
                coverages.append(
                    Coverage(
                        patient=patient,
                        plan=second,
                        member_id=f"S{i:09d}",
                        priority=2,
                        effective_from=date(today.year, 1, 1),
                    )
                )
        for kind, code, description, need_equipment, share in catalog.CLINICAL_FACTS:
            if rng.random() < share:
                facts.append(
                    ClinicalFact(
                        patient=patient,
                        kind=kind,
                        code=code,
                        description=description,
                        requires_equipment=equipment.get(need_equipment)
                        if need_equipment
                        else None,
                        source_system=ehr_system(home.code),
                        source_location=home,
                        recorded_at=recorded + timedelta(days=rng.randint(0, 190)),
                    )
                )
    PatientIdentifier.objects.bulk_create(identifiers, batch_size=5000)
    Coverage.objects.bulk_create(coverages, batch_size=5000)
    ClinicalFact.objects.bulk_create(facts, batch_size=5000)
    _plant_duplicates(patients, rng=rng, homes=homes, locations=net.locations)
    return patients


def _plant_duplicates(
    patients: list[Patient], *, rng: random.Random, homes: list, locations: list
) -> None:
    """About 1% of patients were registered twice at another office with a typo."""
    dupes, offices = [], []
    originals = rng.sample(range(len(patients)), k=max(1, len(patients) // 100))
    for idx in originals:
        source = patients[idx]
        name = source.last_name
        pos = rng.randrange(1, len(name))
        typo = name[:pos] + name[pos + 1 :] if len(name) > 3 else name + "e"
        dupes.append(
            Patient(
                first_name=source.first_name,
                last_name=typo,
                date_of_birth=source.date_of_birth,
                sex=source.sex,
                phone=source.phone,
                zip_code=source.zip_code,
                city=source.city,
                state=source.state,
                preferred_language=source.preferred_language,
                home_location=homes[idx],
            )
        )
        others = [loc for loc in locations if loc.pk != homes[idx].pk] or locations
        offices.append(rng.choice(others))
    created = Patient.objects.bulk_create(dupes)
    PatientName.remember(created)
    PatientIdentifier.objects.bulk_create(
        PatientIdentifier(
            patient=dupe,
            system=ehr_system(office.code),
            kind="MR",
            value=f"MRD{idx:07d}",
            location=office,
        )
        for idx, dupe, office in zip(originals, created, offices, strict=True)
    )
    DuplicateCandidate.objects.bulk_create(
        DuplicateCandidate(
            patient_a=patients[idx],
            patient_b=dupe,
            score=0.93,
            reason="Same date of birth and phone; last names one letter apart",
        )
        for idx, dupe in zip(originals, created, strict=True)
    )
