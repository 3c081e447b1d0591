"""A worker's run of SIU^S12 front-desk bookings is applied set-based, with exactly the
effects the one-by-one path has: same outcomes per message, same rows, same auditlog
entries, same outbox events, same billing reactions; and no double booking when agents
race the worker for the same units."""

from __future__ import annotations

import re
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.db import connection, transaction

from billing.models import EligibilityCheck, Encounter
from config.roles import AGENT
from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from patients.models import Patient, PatientIdentifier
from scheduling import services
from scheduling.models import Appointment, AppointmentSlot, AppointmentType, Hold, Slot
from scheduling.signals import appointment_changed
from tests import factories as f

from .hl7_samples import adt, siu

START = (datetime.now(tz=UTC) + timedelta(days=3)).replace(
    hour=16, minute=0, second=0, microsecond=0
)


class _Rollback(Exception):
    pass


def _local(moment: datetime, location) -> str:
    return moment.astimezone(location.tz).strftime("%Y%m%d%H%M")


@pytest.fixture
def world(pms):
    location = pms.location
    provider = f.provider(locations=[location])
    visit = f.appointment_type(code="exam")
    units = [
        f.slot(provider=provider, location=location, start=START + timedelta(minutes=30 * i))
        for i in range(10)
    ]
    known = f.patient(first_name="Kim", last_name="Known", date_of_birth=date(1970, 1, 1))
    PatientIdentifier.objects.create(patient=known, system="DEN-PMS", value="K", kind="MR")
    f.coverage(patient=known)
    f.appointment(patient=f.patient(), slot=units[8], appointment_type=visit)  # booked before
    agent = User.objects.create_user("holder")
    now = datetime.now(tz=UTC)
    Hold.objects.create(
        slot=units[5], held_by=agent, created_at=now, expires_at=now + timedelta(minutes=5)
    )
    return location, provider, units


def _messages(location, provider, units) -> list[str]:
    def book(cid, mrn, last, ext, first_unit, last_unit=None, npi=provider.npi):
        known = mrn == "K"
        return siu(
            cid,
            mrn=mrn,
            first="Kim" if known else "Pat",
            last=last,
            dob="19700101" if known else "19900101",
            external_id=ext,
            npi=npi,
            type_code="exam",
            start=_local(units[first_unit].start, location),
            end=_local(units[last_unit if last_unit is not None else first_unit].end, location),
        )

    return [
        book("B1", "N1", "One", "X1", 0, 1),  # an hour: units 0 and 1
        book("B2", "K", "Known", "X2", 2),  # a known patient with coverage
        book("B3", "N2", "Two", "X3", 1),  # unit 1 was just taken by B1
        book("B4", "N1", "One", "X1", 0, 1),  # B1 again under a new control id
        book("B5", "N3", "Three", "X5", 3, npi="1999999999"),  # unknown provider
        book("B6", "N4", "Four", "X6", 5),  # an agent holds unit 5: the front desk wins
        book("B7", "K", "Known", "X7", 6),  # coverage checked by B2 a moment ago
        book("B8", "N5", "Five", "X8", 8),  # unit 8 was booked before the run
        book("B9", "N3", "Three", "X9", 9),  # same patient as B5: the key carries on
    ]


VOLATILE = {"id", "patient", "created_at", "updated_at", "cancelled_at"}


def _summary(units, since: int) -> dict:
    """Everything the run changed, with ids that differ between runs left out."""
    entries = Counter()
    appointment_changes = []
    for entry in LogEntry.objects.filter(pk__gt=since).order_by("pk"):
        entries[(entry.content_type.model, entry.action)] += 1
        if entry.content_type.model == "appointment":
            appointment_changes.append(
                {k: v for k, v in entry.changes_dict.items() if k not in VOLATILE}
            )
    return {
        "messages": {
            m.control_id: (m.status, re.sub(r"#\d+", "#N", m.last_error))
            for m in Message.objects.filter(direction=Message.Direction.INBOUND)
        },
        "appointments": sorted(
            (
                a.external_id,
                a.patient.last_name,
                a.start,
                a.end,
                a.status,
                a.channel,
                tuple(sorted(link.slot.start for link in a.slot_links.filter(active=True))),
            )
            for a in Appointment.objects.filter(channel="location")
        ),
        "all appointments": sorted(
            (a.external_id, a.status, a.cancel_reason, a.slot_links.filter(active=True).count())
            for a in Appointment.objects.all()
        ),
        "patients": sorted(Patient.objects.values_list("last_name", flat=True)),
        "units": [Slot.objects.get(pk=u.pk).status for u in units],
        "holds released": [h.released_at is not None for h in Hold.objects.all()],
        "encounters": sorted(
            (
                e.appointment.external_id,
                e.date_of_service,
                e.status,
                e.encounter_number == f"E{e.appointment_id:09d}",
            )
            for e in Encounter.objects.select_related("appointment")
        ),
        "eligibility": sorted(
            (c.appointment.external_id, c.coverage.member_id, c.status)
            for c in EligibilityCheck.objects.select_related("appointment", "coverage")
        ),
        "outbox": sorted(
            (e.event_type, e.aggregate_type, e.location_id, str(e.payload))
            for e in OutboxEvent.objects.all()
        ),
        "audit": entries,
        "appointment audit": sorted(appointment_changes, key=str),
    }


def _run(
    world,
    monkeypatch,
    *,
    bulk: bool,
    messages: list[str] | None = None,
    service: str = "appointments_record_external_batch",
) -> tuple[dict, list[int]]:
    """Store and drain the run, summarise, and roll everything back."""
    location, provider, units = world
    calls: list[int] = []
    real = getattr(services, service)

    def spy(items):
        calls.append(len(items))
        return real(items)

    monkeypatch.setattr(services, service, spy)
    if not bulk:
        # The reference: one message per savepoint, in arrival order.
        monkeypatch.setattr(inbound, "_apply_bulk", lambda run, now, deferral=None: False)
        monkeypatch.setattr(inbound, "_in_waves", lambda rows: rows)
    summary: dict = {}
    try:
        with transaction.atomic():
            since = LogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            stored = inbound_store_batch(messages or _messages(location, provider, units))
            inbound.inbound_drain_keys(list(dict.fromkeys(s.ordering_key for s in stored)))
            summary = _summary(units, since)
            raise _Rollback()
    except _Rollback:
        pass
    monkeypatch.undo()
    return summary, calls


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
