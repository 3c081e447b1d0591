"""Benchmark: inbound processing throughput with 1, 2 and 4 Celery worker processes.

Stored ADT messages (A04 then A08s, several per patient) are drained by real worker
processes (solo pool, so N processes = N tasks at once) on PostgreSQL and Redis, the way
the listener hands them over: one drain task per stored batch of patient keys. Worker
start-up is outside the timing. Rounds alternate 1, 2, 4 workers so each round's ratios
are measured under the same load; the medians go to the README ("Scale-out and
deployment"). Run with `make bench` and DATABASE_URL / CELERY_BROKER_URL set.
"""

from __future__ import annotations

import statistics
import time

import pytest

from integrations.ledger import inbound_store_batch
from integrations.models import Connector, Message
from tests import factories as f
from tests.integrations.hl7_samples import adt
from tests.processes import celery_workers, multiprocess_stack_missing

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

PATIENTS = 400
PER_PATIENT = 5
KEYS_PER_TASK = 25  # about what one listener commit carries on a busy feed
ROUNDS = 2
FLEETS = (1, 2, 4)


def _store(tag: str) -> list[str]:
    """PATIENTS x PER_PATIENT messages, interleaved across patients as a feed sends them."""
    raws = [
        adt(
            f"{tag}-{p}-{i}",
            event="A04" if i == 0 else "A08",
            mrn=f"{tag}{p:05d}",
            last=["Ash", "Beech", "Cherry", "Damson", "Elder"][i % 5],
            dob=f"{1930 + p % 80}0{1 + p % 9}1{p % 10}",
            phone=f"(303)555-{p:04d}",
        )
        for i in range(PER_PATIENT)
        for p in range(PATIENTS)
    ]
    keys: list[str] = []
    for start in range(0, len(raws), 500):
        for stored in inbound_store_batch(raws[start : start + 500]):
            assert stored.ack_code == "AA"
            if stored.ordering_key not in keys:
                keys.append(stored.ordering_key)
    return keys


def _drain_with(workers: int, tag: str) -> float:
    from config.celery import app

    keys = _store(tag)
    total = PATIENTS * PER_PATIENT
    pending = Message.objects.filter(control_id__startswith=f"{tag}-")
    with celery_workers(workers) as fleet:
        started = time.perf_counter()
        for i in range(0, len(keys), KEYS_PER_TASK):
            app.send_task(
                "integrations.tasks.inbound_drain_task",
                args=[keys[i : i + KEYS_PER_TASK]],
                queue=fleet.queue,
            )
        while pending.filter(status=Message.Status.PROCESSED).count() < total:
            fleet.alive()
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    assert pending.exclude(status=Message.Status.PROCESSED).count() == 0
    return total / elapsed


def test_inbound_throughput_with_1_2_and_4_workers():
    missing = multiprocess_stack_missing()
    if missing:
        pytest.skip(missing)
    Connector.objects.create(
        name="Bench PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(),
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )
    rates: dict[int, list[float]] = {n: [] for n in FLEETS}
    ratios: dict[int, list[float]] = {n: [] for n in FLEETS}
    for round_ in range(ROUNDS):
        measured = {n: _drain_with(n, f"R{round_}W{n}") for n in FLEETS}
        for n in FLEETS:
            rates[n].append(measured[n])
            ratios[n].append(measured[n] / measured[1])
        print(
            f"\n[inbound scaling] round {round_ + 1}: "
            + ", ".join(f"{n} worker(s) {measured[n]:,.0f} msg/s" for n in FLEETS)
        )
    print(
        f"\n[inbound scaling] {PATIENTS * PER_PATIENT} ADT messages, medians of {ROUNDS} rounds: "
        + "; ".join(
            f"{n} worker(s) {statistics.median(rates[n]):,.0f} msg/s "
            f"(x{statistics.median(ratios[n]):.2f})"
            for n in FLEETS
        )
    )
