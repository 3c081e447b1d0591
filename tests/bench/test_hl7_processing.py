"""Benchmark: parsing, and processing per worker (ADT and SIU applied to the database).

Processing runs the worker's code path (inbound_drain_keys) in this one process, so the
figure is per core. Run with `make bench`; figures go to the README.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import hl7
import pytest
from django.db import connection
from django.db.models import Count
from hl7apy.parser import parse_message

from integrations import inbound
from integrations.hl7v2.reader import ParsedMessage
from integrations.ledger import inbound_store_batch
from integrations.models import Connector, Message
from tests import factories as f
from tests.integrations.hl7_samples import adt, siu

# Transactional: every commit is a real one, as in a worker.
pytestmark = pytest.mark.django_db(transaction=True)


def _rate(func, items) -> float:
    started = time.perf_counter()
    for item in items:
        func(item)
    return len(items) / (time.perf_counter() - started)


def test_parsing_speed_of_the_three_readers():
    messages = [adt(f"R{i}", mrn=f"M{i}") for i in range(2000)]

    ours = _rate(lambda m: ParsedMessage(m).require("PID").get(5, 1), messages)
    python_hl7 = _rate(lambda m: str(hl7.parse(m).segment("PID")[5]), messages)
    hl7apy = _rate(lambda m: parse_message(m).pid.pid_5.value, messages[:200])

    print(
        f"\n[parse] hub reader {ours:,.0f} msg/s · python-hl7 {python_hl7:,.0f} msg/s · "
        f"hl7apy {hl7apy:,.0f} msg/s"
    )
    assert ours > python_hl7 > hl7apy


@pytest.fixture
def world(settings):
    settings.INTEGRATIONS_KICK_RELAY = False  # measured separately: one broker publish
    location = f.location()
    connector = Connector.objects.create(
        name="Bench PMS",
        kind="hl7v2_mllp",
        role="location_pms",
        location=location,
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )
    provider = f.provider(locations=[location])
    f.appointment_type(code="exam")
    f.appointment_type(code="exam2")
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    slots = [
        f.slot(provider=provider, location=location, start=start + timedelta(minutes=30 * i))
        for i in range(1000)
    ]
    return connector, provider, slots


def _dob(i: int) -> str:
    # One birth date per patient: with a shared phone too, "Bench49" and "Bench499" would
    # be one person to the MPI, and every later message would flip that record's name.
    return (date(1940, 1, 1) + timedelta(days=17 * i)).strftime("%Y%m%d")


def _booking(
    slot,
    provider,
    i: int,
    *,
    cid: str = "",
    event: str = "S12",
    type_code: str = "exam",
    phone: str = "(303)555-0142",
) -> str:
    """An SIU for bench patient i (as its ADT described them) at ``slot``."""
    local = slot.start.astimezone(slot.location.tz)
    return siu(
        cid or f"{event}-{i}",
        event=event,
        external_id=f"X{i}",
        mrn=f"M{i}",
        last=f"Bench{i}",
        first="Alex",
        middle="Q",
        dob=_dob(i),
        phone=phone,
        npi=provider.npi,
        type_code=type_code,
        start=local.strftime("%Y%m%d%H%M"),
        end=(local + timedelta(minutes=30)).strftime("%Y%m%d%H%M"),
    )


def _drain_all(batched: bool) -> tuple[int, float]:
    keys = list(
        dict.fromkeys(
            Message.objects.filter(status="received").values_list("ordering_key", flat=True)
        )
    )
    started = time.perf_counter()
    if batched:
        # What a worker does with one task from the listener: many keys, one commit per 500.
        done = sum(inbound.inbound_drain_keys(keys[i : i + 500]) for i in range(0, len(keys), 500))
    else:
        # One message per transaction: the batch path with batches of one.
        done = sum(inbound.inbound_drain_keys([k], batch=1) for k in keys)
    return done, time.perf_counter() - started


@pytest.mark.parametrize("batched", [False, True], ids=["commit-per-message", "batched"])
def test_processing_per_worker_adt_and_siu(world, batched):
    _, provider, slots = world
    n = 1000
    new_patients = [adt(f"A{i}", mrn=f"M{i}", last=f"Bench{i}", dob=_dob(i)) for i in range(n)]
    updates = [
        adt(
            f"U{i}",
            event="A08",
            mrn=f"M{i}",
            last=f"Bench{i}",
            phone=f"303555{i:04d}",
            dob=_dob(i),
        )
        for i in range(n)
    ]
    # The patient as the PMS knows them after the A08: a booking, no demographic change.
    bookings = [
        _booking(slots[i], provider, i, cid=f"S{i}", phone=f"303555{i:04d}") for i in range(n)
    ]
    # The front desk changes each visit's type (no move), then cancels it.
    modifications = [
        m.replace("SIU^S12^SIU_S12|S", "SIU^S14^SIU_S12|M").replace("|exam", "|exam2")
        for m in bookings
    ]
    cancels = [m.replace("SIU^S12^SIU_S12|S", "SIU^S15^SIU_S12|C") for m in bookings]
    results = {}
    for label, batch in (
        ("ADT^A04 new patient", new_patients),
        ("ADT^A08 update", updates),
        ("SIU^S12 booking", bookings),
        ("SIU^S14 modify", modifications),
        ("SIU^S15 cancel", cancels),
    ):
        for chunk in range(0, len(batch), 500):
            assert {s.ack_code for s in inbound_store_batch(batch[chunk : chunk + 500])} == {"AA"}
        done, elapsed = _drain_all(batched)
        assert done == len(batch)
        results[label] = done / elapsed
    assert not Message.objects.exclude(status="processed").exists(), list(
        Message.objects.exclude(status="processed").values_list("last_error", flat=True)[:3]
    )
    print(
        f"\n[process {connection.vendor} {'batched' if batched else 'per message'}] per worker: "
        + " · ".join(f"{k} {v:,.0f} msg/s" for k, v in results.items())
    )


def test_processing_per_worker_a_mixed_stream(world):
    """What a busy PMS sends: bookings interleaved with demographic updates, visit-type
    changes and cancellations of earlier bookings, so the worker's runs are short."""
    _, provider, slots = world
    n = 600
    for chunk in range(0, n, 300):
        inbound_store_batch(
            [
                adt(f"A{i}", mrn=f"M{i}", last=f"Bench{i}", dob=_dob(i))
                for i in range(chunk, chunk + 300)
            ]
        )
    _drain_all(True)

    def booking(i: int, event: str = "S12", type_code: str = "exam") -> str:
        return _booking(slots[i], provider, i, event=event, type_code=type_code)

    stream = []
    for i in range(n):
        stream.append(booking(i))
        if i % 2:
            stream.append(
                adt(
                    f"U{i}",
                    event="A08",
                    mrn=f"M{i - 1}",
                    last=f"Bench{i - 1}",
                    dob=_dob(i - 1),
                    phone=f"720555{i:04d}",
                )
            )
        if i % 3 == 0 and i >= 3:
            stream.append(booking(i - 3, event="S14", type_code="exam2"))
        if i % 5 == 0 and i >= 5:
            stream.append(booking(i - 5, event="S15"))
    for chunk in range(0, len(stream), 500):
        assert {s.ack_code for s in inbound_store_batch(stream[chunk : chunk + 500])} == {"AA"}
    done, elapsed = _drain_all(True)
    assert done == len(stream)
    statuses = dict(
        Message.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    assert statuses == {"processed": n + len(stream)}, statuses
    print(
        f"\n[process {connection.vendor} mixed] {len(stream)} messages "
        f"(S12 {n}, A08 {n // 2}, S14 and S15 of earlier bookings): {done / elapsed:,.0f} msg/s"
    )
