"""Slot search for a two-resource visit (dentist + hygienist) against the same visit
needing only the dentist, on the large seeded network, in the same run.

Run against your own copy of the large benchmark database, migrated with this branch
(the setup adds the demo's two-resource visit type and its one-resource twin there):

    createdb -h 127.0.0.1 -U postgres -T carehub_bench_large carehub_bench_multires
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/carehub_bench_multires \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/carehub_bench_multires \\
        .venv/bin/python -m pytest tests/bench/test_multi_resource_search.py -q -s \\
        -p no:cacheprovider --override-ini="addopts="

Each query (patient, scope, window, time of day; fixed seed) runs once for each visit
type, alternating which goes first, so load from other work on the machine falls on both
alike. Wall time and process CPU time are taken around ``slot_search``; the goal is the
two-resource p50 and p95 within 1.5x of the one-resource ones.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from patients.models import Patient
from scheduling.models import AppointmentType, Location, Region, Slot
from scheduling.seed_extras import multi_resource_ensure
from scheduling.selectors import slot_search

QUERIES = 150
WARMUP = 10
GOAL = 1.5


@pytest.fixture(scope="module")
def django_db_setup():
    """Use the configured database as it is: the benchmark reads the seeded network."""


@pytest.fixture
def bench_db(django_db_blocker):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql" or not Slot.objects.filter(pk__gt=100_000).exists():
            pytest.skip("set DATABASE_URL to a migrated copy of the large benchmark database")
        yield


def _types() -> tuple[AppointmentType, AppointmentType]:
    """The demo's exam with cleaning (dentist + hygienist) and a twin without the
    hygienist: same duration, skill and patient status, so only the second resource
    differs."""
    multi_resource_ensure()
    two = AppointmentType.objects.get(code="exam-with-cleaning")
    one, _ = AppointmentType.objects.get_or_create(
        code="exam-with-cleaning-bench-twin",
        defaults={
            "name": "Comprehensive exam (benchmark twin, no hygienist)",
            "duration_minutes": two.duration_minutes,
            "patient_status": two.patient_status,
            "active": False,  # not offered to anyone: the benchmark's own
        },
    )
    one.required_capabilities.set(two.required_capabilities.all())
    return one, two


def _queries(rng: random.Random) -> list[dict]:
    patient_ids = list(
        Patient.objects.filter(status="active").order_by("pk").values_list("pk", flat=True)
    )
    regions = list(Region.objects.all())
    locations = list(Location.objects.filter(active=True))
    today = timezone.localdate()
    queries = []
    for _ in range(QUERIES):
        q: dict = {"patient": Patient.objects.get(pk=rng.choice(patient_ids))}
        scope = rng.random()
        if scope < 0.3:
            q["region"] = rng.choice(regions)
        elif scope < 0.45:
            q["location"] = rng.choice(locations)
        if rng.random() < 0.4:
            q["time_of_day"] = rng.choice(["morning", "afternoon"])
        if rng.random() < 0.3:
            q["date_from"] = today + timedelta(days=rng.randint(0, 30))
            q["date_to"] = q["date_from"] + timedelta(days=rng.choice([7, 14, 30]))
        queries.append(q)
    return queries


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _timed(**q) -> tuple[float, float, int]:
    started, cpu_started = time.perf_counter(), time.process_time()
    result = slot_search(**q)
    wall = (time.perf_counter() - started) * 1000
    cpu = (time.process_time() - cpu_started) * 1000
    return wall, cpu, len(result.options)


def test_two_resource_search_stays_within_half_again_of_one_resource(bench_db):
    one, two = _types()
    queries = _queries(random.Random(20261206))
    wall: dict[str, list[float]] = {"one": [], "two": []}
    cpu: dict[str, list[float]] = {"one": [], "two": []}
    found: dict[str, list[int]] = {"one": [], "two": []}
    for i, q in enumerate(queries):
        order = [("one", one), ("two", two)] if i % 2 == 0 else [("two", two), ("one", one)]
        for name, visit in order:
            ms, cpu_ms, options = _timed(appointment_type=visit, **q)
            if i >= WARMUP:
                wall[name].append(ms)
                cpu[name].append(cpu_ms)
                found[name].append(options)

    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    lines = [f"\nload average {load} on {os.cpu_count()} cores, {QUERIES - WARMUP} query pairs"]
    ratios = {}
    for label, series in (("wall", wall), ("CPU", cpu)):
        one50, one95 = _pct(series["one"], 50), _pct(series["one"], 95)
        two50, two95 = _pct(series["two"], 50), _pct(series["two"], 95)
        ratios[label] = (two50 / one50, two95 / one95)
        lines.append(
            f"{label}: one-resource p50 {one50:.1f} ms p95 {one95:.1f} ms; "
            f"two-resource p50 {two50:.1f} ms p95 {two95:.1f} ms; "
            f"ratio p50 {ratios[label][0]:.2f}x p95 {ratios[label][1]:.2f}x"
        )
    lines.append(
        f"options per search: one-resource median {statistics.median(found['one']):.0f}, "
        f"two-resource median {statistics.median(found['two']):.0f} "
        f"(none: {sum(1 for n in found['two'] if not n)})"
    )
    print("\n".join(lines))
    assert max(ratios["CPU"]) <= GOAL, "two-resource search costs over 1.5x one-resource"
