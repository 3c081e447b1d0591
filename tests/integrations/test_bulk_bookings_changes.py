"""A worker's run of SIU^S13/S14 moves, S15 cancellations and S26 no-shows (and
streams mixing them with bookings) is applied set-based, with exactly the effects the
one-by-one path has."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.contrib.auth.models import User

from config.models import AuditEntry as LogEntry
from scheduling.models import AppointmentSlot, AppointmentType, Hold
from tests import factories as f

from .bulk_runs import START, _local, _run, world_build
from .hl7_samples import adt, siu


@pytest.fixture
def world(pms):
    return world_build(pms)


def _ends(world) -> list[str]:
    """Existing visits, and the cancellations and no-shows a PMS sends about them."""
    from billing.services import encounter_open

    location, provider, units = world
    visit = AppointmentType.objects.get(code="exam")
    past = f.slot(provider=provider, location=location, start=START - timedelta(days=5))
    made = {}
    for ext, unit in [("Y1", units[0]), ("Y2", units[1]), ("Y3", past), ("Y4", units[3])]:
        made[ext] = f.appointment(
            patient=f.patient(), slot=unit, appointment_type=visit, external_id=ext
        )
        encounter_open(appointment=made[ext])
    gone = f.appointment(
        patient=f.patient(),
        slot=units[4],
        appointment_type=visit,
        external_id="Y5",
        status="cancelled",
        cancel_reason="other",
    )
    AppointmentSlot.objects.filter(appointment=gone).update(active=False)

    def end(cid, event, ext, hub_id=None, mrn=None):
        # Each visit's patient is its own queue: the worker's waves keep their order.
        return siu(cid, event=event, external_id=ext, hub_id=hub_id, mrn=mrn or f"P-{ext}")

    book = siu(
        "E0",
        mrn="E9",
        last="New",
        external_id="Y9",
        npi=provider.npi,
        type_code="exam",
        start=_local(units[6].start, location),
        end=_local(units[6].end, location),
    )
    return [
        end("E1", "S15", "", hub_id=made["Y1"].pk, mrn="P-Y1"),  # our own id echoed back
        end("E2", "S15", "Y2"),  # the PMS's id
        end("E3", "S15", "Y2"),  # again: no second effect
        end("E4", "S26", "Y3"),  # a past visit nobody came to
        end("E5", "S26", "Y4"),  # a no-show before the visit starts: refused
        end("E6", "S26", "Y5"),  # a cancelled visit cannot be a no-show
        end("E7", "S15", "NOPE"),  # unknown to the hub
        end("E8", "S15", "Y3"),  # the no-show cannot be cancelled any more
        book,  # a booking in between: the run of ends is split around it
        end("E10", "S15", "Y9", mrn="E9"),  # cancels the booking just made
    ]


@pytest.mark.django_db
def test_a_run_of_cancellations_and_no_shows_has_every_effect_of_one_by_one(world, monkeypatch):
    messages = _ends(world)
    service = "appointments_change_external_batch"
    bulk, bulk_calls = _run(world, monkeypatch, bulk=True, messages=messages, service=service)
    one, one_calls = _run(world, monkeypatch, bulk=False, messages=messages, service=service)

    # The set-based path ran (every found appointment went through it), one by one never.
    assert sum(bulk_calls) == 8 and one_calls == []
    assert bulk["messages"] == {
        "E0": ("processed", ""),
        "E1": ("processed", ""),
        "E2": ("processed", ""),
        "E3": ("processed", ""),
        "E4": ("processed", ""),
        "E5": (
            "rejected",
            "scheduling refused the change: AppointmentNotStarted: "
            "An appointment can be marked a no-show only after it was due to start.",
        ),
        "E6": (
            "rejected",
            "scheduling refused the change: AppointmentNotActive: "
            "Only a booked appointment can be changed.",
        ),
        "E7": ("rejected", "the appointment in SCH-1/SCH-2 is unknown to the hub"),
        "E8": (
            "rejected",
            "scheduling refused the change: AppointmentNotActive: "
            "Only a booked appointment can be changed.",
        ),
        "E10": ("processed", ""),
    }
    statuses = {a[0]: a[1:] for a in bulk["all appointments"] if a[0].startswith("Y")}
    assert statuses == {
        "Y1": ("cancelled", "other", 0),
        "Y2": ("cancelled", "other", 0),
        "Y3": ("no_show", "", 0),
        "Y4": ("booked", "", 1),
        "Y5": ("cancelled", "other", 0),
        "Y9": ("cancelled", "other", 0),
    }
    # Cancelled units are free again; the no-show's past unit stays as it was.
    assert bulk["units"][:2] == ["free", "free"] and bulk["units"][6] == "free"
    assert {e[0]: e[2] for e in bulk["encounters"]} == {
        "Y1": "void",
        "Y2": "void",
        "Y3": "void",
        "Y4": "open",
        "Y9": "void",
    }
    assert Counter(e[0] for e in bulk["outbox"]) == {
        "appointment.cancelled": 3,
        "appointment.no_show": 1,
        "appointment.booked": 1,
        "patient.created": 1,
    }
    assert bulk["audit"][("appointment", LogEntry.Action.UPDATE)] == 4
    assert bulk["audit"][("encounter", LogEntry.Action.UPDATE)] == 4
    for part in bulk:
        assert bulk[part] == one[part], part


def _moves(world) -> list[str]:
    """Existing visits, and the moves, retypes and cancellations a PMS sends."""
    location, provider, units = world
    visit = AppointmentType.objects.get(code="exam")
    f.appointment_type(code="exam2")
    for ext, i in [("V3", 3), ("V6", 6), ("W", 9)]:
        f.appointment(patient=f.patient(), slot=units[i], appointment_type=visit, external_id=ext)
    agent = User.objects.create_user("holder7")
    Hold.objects.create(
        slot=units[7], held_by=agent, created_at=units[0].start, expires_at=units[9].end
    )

    def change(cid, event, ext, unit=None, npi=provider.npi, type_code="exam"):
        at = units[unit] if unit is not None else None
        return siu(
            cid,
            event=event,
            external_id=ext,
            mrn=f"P-{ext}",
            npi=npi,
            type_code=type_code,
            start=_local(at.start, location) if at else "",
            end=_local(at.end, location) if at else "",
        )

    return [
        change("C1", "S14", "V3", 7),  # to a unit an agent holds: the front desk wins
        change("C2", "S13", "V6", 3),  # into the unit C1 just freed
        change("C3", "S14", "W", 6),  # into the unit C2 just freed
        change("C4", "S14", "W", 8, npi="1999999999"),  # unknown provider
        change("C5", "S14", "V6", 7),  # unit 7 is C1's now
        change("C6", "S14", "W", type_code="exam2"),  # a new visit type, no move
        change("C7", "S15", "V3"),  # cancel: unit 7 is free again
        change("C8", "S14", "V3", 2),  # a cancelled visit cannot move
        change("C9", "S14", "W", 7),  # takes the unit C7 freed
        change("C10", "S14", "NOPE", 1),  # unknown to the hub
    ]


@pytest.mark.django_db
def test_a_run_of_moves_and_cancellations_has_every_effect_of_one_by_one(world, monkeypatch):
    messages = _moves(world)
    service = "appointments_change_external_batch"
    bulk, bulk_calls = _run(world, monkeypatch, bulk=True, messages=messages, service=service)
    one, one_calls = _run(world, monkeypatch, bulk=False, messages=messages, service=service)

    # C5, refused for want of a free unit, is tried once more at the end of the batch.
    assert bulk_calls == [8, 1] and one_calls == []
    refused = "scheduling refused the change: SlotUnavailable: This slot is no longer available."
    assert bulk["messages"] == {
        "C1": ("processed", ""),
        "C2": ("processed", ""),
        "C3": ("processed", ""),
        "C4": ("rejected", "AIP-3 names no provider known to the hub (NPI)"),
        "C5": ("rejected", refused),
        "C6": ("processed", ""),
        "C7": ("processed", ""),
        "C8": (
            "rejected",
            "scheduling refused the change: AppointmentNotActive: "
            "Only a booked appointment can be changed.",
        ),
        "C9": ("processed", ""),
        "C10": ("rejected", "the appointment in SCH-1/SCH-2 is unknown to the hub"),
    }
    moved = {a[0]: a for a in bulk["all appointments"] if a[0] in {"V3", "V6", "W"}}
    assert moved["V3"][1:] == ("cancelled", "other", 0)
    assert moved["V6"][1:] == ("booked", "", 1)
    assert moved["W"][1:] == ("booked", "", 1)
    # Unit 3: V6; 6 and 9 freed; 7: W; the agent's hold on 7 was released by C1.
    assert [bulk["units"][i] for i in (3, 6, 7, 9)] == ["booked", "free", "booked", "free"]
    # Newest first: unit 7's hold (released by C1), then the world's hold on unit 5.
    assert bulk["holds released"] == [True, False]
    assert Counter(e[0] for e in bulk["outbox"]) == {
        "appointment.modified": 5,
        "appointment.cancelled": 1,
    }
    assert bulk["audit"][("appointment", LogEntry.Action.UPDATE)] == 6
    for part in bulk:
        assert bulk[part] == one[part], part


@pytest.mark.django_db
def test_a_unit_freed_by_another_patients_earlier_cancellation_can_be_booked(world, monkeypatch):
    """The worker applies each patient's first messages before anyone's second, so the
    booking below meets unit 2 still taken by A; set aside and tried again at the end of
    the batch, it gets the outcome arrival order gives."""
    location, provider, units = world
    visit = AppointmentType.objects.get(code="exam")
    f.appointment_type(code="exam2")
    f.appointment(patient=f.patient(), slot=units[2], appointment_type=visit, external_id="A1")

    def message(cid, event, mrn, ext, unit, type_code="exam", last="Rivera"):
        return siu(
            cid,
            event=event,
            mrn=mrn,
            last=last,
            external_id=ext,
            npi=provider.npi,
            type_code=type_code,
            start=_local(units[unit].start, location),
            end=_local(units[unit].end, location),
        )

    messages = [
        message("R1", "S14", "PA", "A1", 2, type_code="exam2"),  # A's first message
        message("R2", "S15", "PA", "A1", 2),  # A cancels: unit 2 is free
        message("R3", "S12", "PB", "B1", 2, last="Other"),  # B books unit 2
    ]
    service = "appointments_record_external_batch"
    bulk, calls = _run(world, monkeypatch, bulk=True, messages=messages, service=service)
    one, _ = _run(world, monkeypatch, bulk=False, messages=messages, service=service)

    assert calls == [1, 1], "refused in its wave, booked when tried again"
    assert bulk["messages"] == {
        "R1": ("processed", ""),
        "R2": ("processed", ""),
        "R3": ("processed", ""),
    }
    booked = {a[0]: a[1] for a in bulk["all appointments"] if a[0] in {"A1", "B1"}}
    assert booked == {"A1": "cancelled", "B1": "booked"}
    for part in bulk:
        assert bulk[part] == one[part], part


@pytest.mark.django_db
def test_a_busy_senders_interleaved_stream_ends_as_arrival_order_would(world, monkeypatch):
    """Bookings, demographic updates, retypes, cancellations, and other patients booking
    the units just cancelled, interleaved as a PMS sends them: the worker's waves and
    set-based runs end exactly where one message at a time in arrival order ends."""
    location, provider, units = world
    f.appointment_type(code="exam2")
    more = [
        f.slot(provider=provider, location=location, start=units[-1].start + timedelta(hours=i))
        for i in range(1, 13)
    ]
    grid = more  # free units only (the world books unit 8 and holds unit 5)

    def dob(mrn):  # one birth date and phone each: no two of them are one person
        return f"19{40 + int(mrn[1:]):02d}0{1 + int(mrn[1:]) % 9}1{int(mrn[1:]) % 9}"

    def book(i, mrn, unit, event="S12", type_code="exam"):
        return siu(
            f"{event}-{mrn}-{i}",
            event=event,
            mrn=mrn,
            last=f"Pat{mrn}",
            dob=dob(mrn),
            phone=f"303555{int(mrn[1:]) + (50 if mrn[0] == 'Q' else 0):04d}",
            external_id=f"E-{mrn}",
            npi=provider.npi,
            type_code=type_code,
            start=_local(grid[unit].start, location),
            end=_local(grid[unit].end, location),
        )

    stream = []
    for i in range(12):
        stream.append(book(i, f"P{i}", i))
        if i % 2:
            stream.append(
                adt(
                    f"U{i}",
                    event="A08",
                    mrn=f"P{i - 1}",
                    last=f"PatP{i - 1}",
                    dob=dob(f"P{i - 1}"),
                    phone=f"720555{i:04d}",
                )
            )
        if i % 3 == 0 and i >= 3:
            stream.append(book(i, f"P{i - 3}", i - 3, event="S14", type_code="exam2"))
        if i % 4 == 0 and i >= 4:
            stream.append(book(i, f"P{i - 4}", i - 4, event="S15"))
            stream.append(book(i, f"Q{i}", i - 4))  # someone else takes the freed unit
    bulk, calls = _run(world, monkeypatch, bulk=True, messages=stream)
    one, _ = _run(world, monkeypatch, bulk=False, messages=stream)

    assert calls, "the set-based path ran"
    assert set(bulk["messages"].values()) == {("processed", "")}
    for part in bulk:
        assert bulk[part] == one[part], part
