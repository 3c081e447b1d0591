"""A worker's run of SIU^S12 front-desk bookings is applied set-based, with exactly the
effects the one-by-one path has: same outcomes per message, same rows, same auditlog
entries, same outbox events, same billing reactions; and no double booking when agents
race the worker for the same units."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from config.models import AuditEntry as LogEntry
from config.roles import AGENT
from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message
from scheduling import services
from scheduling.models import Appointment, AppointmentSlot, Slot
from scheduling.signals import appointment_changed
from tests import factories as f

from .bulk_runs import START, _local, _messages, _run, world_build
from .hl7_samples import siu


@pytest.fixture
def world(pms):
    return world_build(pms)


@pytest.mark.django_db
def test_a_run_of_front_desk_bookings_has_every_effect_of_one_by_one(world, monkeypatch):
    bulk, bulk_calls = _run(world, monkeypatch, bulk=True)
    one, one_calls = _run(world, monkeypatch, bulk=False)

    # The set-based path ran: one run (B5 names no known provider), again without the two
    # refused bookings, and those two once more at the end of the batch (still refused).
    assert bulk_calls == [8, 6, 2] and one_calls == []
    refused = "scheduling refused the change: SlotUnavailable: This slot is no longer available."
    assert bulk["messages"] == {
        "B1": ("processed", ""),
        "B2": ("processed", ""),
        "B3": ("rejected", refused),
        "B4": ("processed", ""),
        "B5": ("rejected", "AIP-3 names no provider known to the hub (NPI)"),
        "B6": ("processed", ""),
        "B7": ("processed", ""),
        "B8": ("rejected", refused),
        "B9": ("processed", ""),
    }
    assert [a[0] for a in bulk["appointments"]] == ["X1", "X2", "X6", "X7", "X9"]
    assert len(bulk["appointments"][0][-1]) == 2, "the hour-long visit holds both units"
    # A refused booking leaves nothing behind, not even the patient its PID would create.
    assert "Two" not in bulk["patients"] and "Five" not in bulk["patients"]
    assert bulk["units"] == ["booked"] * 3 + ["free", "free", "booked", "booked", "free"] + [
        "booked",
        "booked",
    ]
    assert bulk["holds released"] == [True]
    assert len(bulk["encounters"]) == 5
    assert [e[0] for e in bulk["eligibility"]] == ["X2"], "one check for Known's coverage"
    assert Counter(e[0] for e in bulk["outbox"]) == {
        "appointment.booked": 5,
        "patient.created": 3,
        "patient.updated": 1,  # the front desk's phone and address for Known
    }
    assert all("origin_connector_id" in e[3] for e in bulk["outbox"])
    assert bulk["audit"][("appointment", LogEntry.Action.CREATE)] == 5
    assert bulk["audit"][("encounter", LogEntry.Action.CREATE)] == 5
    assert bulk["audit"][("eligibilitycheck", LogEntry.Action.CREATE)] == 1
    # And all of it exactly as one by one.
    for part in bulk:
        assert bulk[part] == one[part], part


@pytest.mark.django_db
def test_an_unknown_booking_receiver_sends_the_run_one_by_one(world, monkeypatch):
    location, provider, units = world
    seen: list[str] = []

    def receiver(sender, appointment, event, **kw):
        seen.append(appointment.external_id)

    appointment_changed.connect(receiver, dispatch_uid="test.unknown_receiver")
    try:
        stored = inbound_store_batch(_messages(location, provider, units))
        inbound.inbound_drain_keys(list(dict.fromkeys(s.ordering_key for s in stored)))
    finally:
        appointment_changed.disconnect(dispatch_uid="test.unknown_receiver")

    assert seen == ["X1", "X2", "X6", "X7", "X9"], "the receiver heard every booking"
    assert Counter(Message.objects.values_list("status", flat=True)) == {
        "processed": 6,
        "rejected": 3,
    }


@pytest.mark.django_db
def test_an_overlap_only_the_database_sees_sends_the_run_one_by_one(world, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("the exclusion constraint on appointment times is PostgreSQL's")
    location, provider, units = world
    # A booking outside the slot grid (no unit links) that overlaps unit 9.
    Appointment.objects.create(
        patient=f.patient(),
        provider=provider,
        location=location,
        appointment_type=f.appointment_type(),
        start=units[9].start + timedelta(minutes=10),
        end=units[9].end + timedelta(minutes=10),
        created_at=units[0].start,
        updated_at=units[0].start,
    )
    stored = inbound_store_batch(_messages(location, provider, units))
    inbound.inbound_drain_keys(list(dict.fromkeys(s.ordering_key for s in stored)))

    status = dict(Message.objects.values_list("control_id", "status"))
    assert status["B9"] == "rejected"
    assert [c for c, s in sorted(status.items()) if s == "processed"] == [
        "B1",
        "B2",
        "B4",
        "B6",
        "B7",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bulk", [True, False], ids=["set-based", "one-by-one"])
def test_agents_racing_the_worker_for_the_same_units_never_double_book(pms, monkeypatch, bulk):
    if not bulk:
        monkeypatch.setattr(inbound, "_apply_bulk", lambda run, now, deferral=None: False)
    location = pms.location
    provider = f.provider(locations=[location])
    visit = f.appointment_type(code="exam")
    units = [
        f.slot(provider=provider, location=location, start=START + timedelta(minutes=30 * i))
        for i in range(60)
    ]
    group = Group.objects.get(name=AGENT)
    agents = [User.objects.create_user(f"racer{i}") for i in range(4)]
    for agent in agents:
        agent.groups.add(group)
    patients = [f.patient() for _ in agents]
    stored = inbound_store_batch(
        [
            siu(
                f"R{i}",
                mrn=f"R{i}",
                last=f"Racer{i}",
                external_id=f"RX{i}",
                npi=provider.npi,
                type_code="exam",
                start=_local(unit.start, location),
                end=_local(unit.end, location),
            )
            for i, unit in enumerate(units)
        ]
    )
    barrier = threading.Barrier(1 + len(agents))
    agent_booked: Counter[int] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            barrier.wait()
            # Small batches, so agents get in between the worker's transactions too.
            inbound.inbound_drain_keys([s.ordering_key for s in stored], batch=10)
        except Exception as exc:
            errors.append(f"worker: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    def agent(i: int) -> None:
        try:
            barrier.wait()
            # From the far end, so the agents meet the worker midway.
            for unit in reversed(units[i::4]):
                try:
                    hold = services.hold_place(slot=unit, by=agents[i])
                    services.appointment_book(
                        hold=hold,
                        patient=patients[i],
                        appointment_type=visit,
                        by=agents[i],
                        reason="recall",
                    )
                except services.SchedulingError:
                    continue
                with lock:
                    agent_booked[unit.pk] += 1
        except Exception as exc:
            errors.append(f"agent: {type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker)] + [
        threading.Thread(target=agent, args=(i,)) for i in range(len(agents))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert errors == []
    statuses = Counter(Message.objects.values_list("status", flat=True))
    assert set(statuses) <= {"processed", "rejected"}
    assert statuses["processed"] + sum(agent_booked.values()) == len(units)
    for unit in units:
        assert AppointmentSlot.objects.filter(slot=unit, active=True).count() == 1, unit.start
    assert Appointment.objects.filter(status="booked").count() == len(units)
    assert set(Message.objects.filter(status="rejected").values_list("last_error", flat=True)) <= {
        "scheduling refused the change: SlotUnavailable: This slot is no longer available."
    }
    assert not Slot.objects.exclude(status="booked").exists()
