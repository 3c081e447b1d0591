"""Bookings per second: forty API clients hold then book distinct slots through gunicorn.

Each client is an agent with its own bearer token (scopes read and book) and books, one
after another with no pause, from a shared queue of (slot, patient) pairs that every
hard rule allows (checked here before the clock starts, so no booking is refused for a
rule): ``POST /api/v1/holds/`` then ``POST /api/v1/appointments/``. Throughput is the
bookings answered 201 divided by the wall time from the first request to the last answer.

Runs against the seeded PostgreSQL database as it stands, like
``test_console_concurrency.py`` (see its docstring); the appointments stay booked.
``BENCH_BOOKINGS`` (default 1200) sets how many are booked.

The one-winner guarantee for fifty clients racing for one slot is part of the normal
suite (``tests/scheduling/test_api.py``), not of this benchmark.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.utils import timezone

from config.roles import AGENT
from integrations.models import ApiToken
from patients.models import Patient
from scheduling.models import AgentProfile, AppointmentType, Slot
from scheduling.selectors.booking_rules import slot_judgement

from .loadgen import Client, Timings, cpu_seconds, gunicorn

CLIENTS = 40
GOAL_PER_SECOND = 60.0


@pytest.fixture(scope="session")
def django_db_setup():
    """Use the seeded benchmark database as it stands: no test database."""


def _tokens() -> list[str]:
    group = Group.objects.get(name=AGENT)
    keys = []
    for n in range(CLIENTS):
        user, made = User.objects.get_or_create(username=f"bench.api{n:02d}")
        if made:
            user.groups.add(group)
        # No home region: an API client books across the whole network.
        AgentProfile.objects.filter(user=user).delete()
        keys.append(ApiToken.issue(user, "booking benchmark", scopes=["read", "book"])[1])
    return keys


def _bookable(visit: AppointmentType, wanted: int) -> list[tuple[int, int]]:
    """(slot id, patient id) pairs that pass every hard rule, on distinct slots and
    distinct patients, spread over the network and the horizon."""
    rng = random.Random(11)
    now = timezone.now()
    capabilities = list(visit.required_capabilities.values_list("pk", flat=True))
    slot_ids = list(
        Slot.objects.filter(
            status=Slot.Status.FREE,
            start__gte=now + timedelta(days=1),
            provider__capabilities__in=capabilities,
        )
        .order_by("?")
        .values_list("pk", flat=True)[: wanted * 4]
    )
    patient_ids = list(
        Patient.objects.filter(status=Patient.Status.ACTIVE).values_list("pk", flat=True)
    )
    patients = iter(rng.sample(patient_ids, min(len(patient_ids), wanted * 4)))
    pairs = []
    slots = Slot.objects.select_related("location").in_bulk(slot_ids)
    for slot_id in slot_ids:
        patient = Patient.objects.get(pk=next(patients))
        judged = slot_judgement(
            patient=patient, appointment_type=visit, slot=slots[slot_id], now=now
        )
        if judged is not None and not judged[1].exclusions:
            pairs.append((slot_id, patient.pk))
            if len(pairs) == wanted:
                break
    return pairs


def _client(base: str, key: str, work: queue.Queue, visit_id: int, timings: Timings) -> None:
    client = Client(base, bearer=key)
    while True:
        try:
            slot_id, patient_id = work.get_nowait()
        except queue.Empty:
            return
        status, body, ms = client.request(
            "POST", "/api/v1/holds/", {"slot_id": slot_id, "appointment_type_id": visit_id}
        )
        timings.add("hold", status, ms)
        if status != 201:
            continue
        hold_id = int(body.split('"id":', 1)[1].split(",", 1)[0])
        booking = {
            "hold_id": hold_id,
            "patient_id": patient_id,
            "appointment_type_id": visit_id,
            "reason": "urgent",
        }
        status, _, ms = client.request("POST", "/api/v1/appointments/", booking)
        timings.add("book", status, ms)


def test_forty_clients_book_sixty_appointments_a_second(django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("the booking benchmark needs the seeded PostgreSQL network (DATABASE_URL)")
    minimum = int(os.environ.get("BENCH_MIN_PATIENTS", "100000"))
    wanted = int(os.environ.get("BENCH_BOOKINGS", "1200"))
    with django_db_blocker.unblock():
        patients = Patient.objects.count()
        if patients < minimum:
            pytest.skip(f"needs >= {minimum:,} patients, found {patients:,}")
        visit = AppointmentType.objects.get(code="emergency-exam")
        keys = _tokens()
        pairs = _bookable(visit, wanted)
        database_url = os.environ["DATABASE_URL"]
    assert len(pairs) >= wanted // 2, f"only {len(pairs)} bookable slots found"
    work: queue.Queue[tuple[int, int]] = queue.Queue()
    for pair in pairs:
        work.put(pair)
    cache_url = os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1")
    timings = Timings()
    with gunicorn(database_url, cache_url) as base:
        # One booking per client first, so every worker has its connections and code warm.
        warm: queue.Queue[tuple[int, int]] = queue.Queue()
        for _ in range(min(CLIENTS, work.qsize() // 10)):
            warm.put(work.get())
        warm_threads = [
            threading.Thread(target=_client, args=(base, key, warm, visit.pk, Timings()))
            for key in keys
        ]
        for thread in warm_threads:
            thread.start()
        for thread in warm_threads:
            thread.join(300)
        timed = work.qsize()
        load_before = os.getloadavg()[0]
        web_before, db_before = cpu_seconds(base, database_url)
        started = time.perf_counter()
        threads = [
            threading.Thread(target=_client, args=(base, key, work, visit.pk, timings))
            for key in keys
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(900)
        elapsed = time.perf_counter() - started
        load_after = os.getloadavg()[0]
        web_after, db_after = cpu_seconds(base, database_url)
    booked = timings.statuses["book"].get(201, 0)
    rate = booked / elapsed
    print(
        f"\n{CLIENTS} API clients, {booked} bookings in {elapsed:.1f} s = {rate:.1f} bookings/s "
        f"on {patients:,} patients, load average {load_before:.1f} -> {load_after:.1f} "
        f"on {os.cpu_count()} cores"
    )
    print(
        f"CPU per booking (hold + book): gunicorn {(web_after - web_before) / max(booked, 1) * 1000:.1f} ms"
        f", PostgreSQL {(db_after - db_before) / max(booked, 1) * 1000:.1f} ms"
    )
    print(timings.table(["hold", "book"]))
    refused = {f"hold {k}": n for k, n in timings.statuses["hold"].items() if k != 201}
    refused |= {f"book {k}": n for k, n in timings.statuses["book"].items() if k != 201}
    assert booked == timed, refused
    assert rate >= GOAL_PER_SECOND, f"{rate:.1f} bookings/s, goal {GOAL_PER_SECOND:.0f}"
