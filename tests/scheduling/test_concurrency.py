"""Many agents at the same slot at the same instant: exactly one wins, on PostgreSQL.

Real threads with their own database connections, released together by a barrier, so
the row locks and the unique/exclusion constraints are what decide, not test ordering.
They run on both databases: on PostgreSQL row locks, unique and exclusion constraints
decide; on the embedded SQLite writers queue on BEGIN IMMEDIATE and the partial unique
indexes decide, so the default install is as safe, only slower.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection

from config.roles import AGENT
from scheduling import services
from scheduling.models import Appointment, AppointmentSlot, Hold
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
START = (datetime.now(tz=UTC) + timedelta(days=4)).replace(
    hour=16, minute=0, second=0, microsecond=0
)


def race(n: int, attempt: Callable[[int], object]) -> Counter[str]:
    """Run ``attempt(i)`` in n threads at once; count outcomes by result/exception name."""
    barrier = threading.Barrier(n)
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            attempt(i)
            name = "ok"
        except services.SchedulingError as exc:
            name = type(exc).__name__
        except Exception as exc:  # anything else is a bug the assertion will show
            name = f"unexpected {type(exc).__name__}: {exc}"
        finally:
            connection.close()
        with lock:
            outcomes[name] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


@pytest.fixture
def agents(db) -> list[User]:
    group = Group.objects.get(name=AGENT)
    users = [User.objects.create_user(f"racer{i}", password="x") for i in range(24)]
    for user in users:
        user.groups.add(group)
    return users


@pytest.fixture
def grid():
    loc = f.location()
    prov = f.provider(locations=[loc])
    slots = [
        f.slot(provider=prov, location=loc, start=START + timedelta(minutes=30 * i))
        for i in range(4)
    ]
    return loc, prov, slots


def test_only_one_of_many_agents_gets_the_hold(agents, grid):
    _, _, slots = grid

    outcomes = race(len(agents), lambda i: services.hold_place(slot=slots[0], by=agents[i]))

    assert outcomes == {"ok": 1, "SlotHeld": len(agents) - 1}
    assert Hold.objects.filter(slot=slots[0]).count() == 1


def test_a_double_submitted_booking_books_once(agents, grid):
    _, _, slots = grid
    patient = f.patient()
    visit = f.appointment_type()
    hold = services.hold_place(slot=slots[0], by=agents[0])

    outcomes = race(
        12,
        lambda i: services.appointment_book(
            hold=hold, patient=patient, appointment_type=visit, by=agents[0], reason="recall"
        ),
    )

    assert outcomes == {"ok": 1, "HoldExpired": 11}
    assert Appointment.objects.count() == 1


def test_overlapping_long_visits_from_two_agents_cannot_both_land(agents, grid):
    _, _, slots = grid
    visit = f.appointment_type(duration_minutes=60)
    patients = [f.patient(), f.patient()]
    # Agent 0 holds 09:00, agent 1 holds 09:30: both hour-long visits need the 09:30 unit.
    holds = [
        services.hold_place(slot=slots[0], by=agents[0]),
        services.hold_place(slot=slots[1], by=agents[1]),
    ]

    outcomes = race(
        2,
        lambda i: services.appointment_book(
            hold=holds[i],
            patient=patients[i],
            appointment_type=visit,
            by=agents[i],
            reason="recall",
        ),
    )

    assert outcomes["ok"] == 1 and sum(outcomes.values()) == 2
    assert set(outcomes) <= {"ok", "SlotHeld", "SlotUnavailable"}
    assert AppointmentSlot.objects.filter(active=True, slot=slots[1]).count() == 1


def test_front_desk_bookings_for_one_window_land_once(grid):
    loc, prov, slots = grid
    visit = f.appointment_type()
    patients = [f.patient() for _ in range(16)]

    outcomes = race(
        16,
        lambda i: services.appointment_record_external(
            patient=patients[i],
            provider=prov,
            location=loc,
            appointment_type=visit,
            start=slots[2].start,
            end=slots[2].end,
            external_id=f"PMS-{i}",
        ),
    )

    assert outcomes == {"ok": 1, "SlotUnavailable": 15}
    assert Appointment.objects.filter(status="booked").count() == 1


def test_two_agents_rescheduling_one_appointment_move_it_once(agents, grid):
    _, _, slots = grid
    visit, patient = f.appointment_type(), f.patient()
    first = services.hold_place(slot=slots[0], by=agents[0])
    appt = services.appointment_book(
        hold=first, patient=patient, appointment_type=visit, by=agents[0], reason="recall"
    )
    holds = [
        services.hold_place(slot=slots[2], by=agents[1]),
        services.hold_place(slot=slots[3], by=agents[2]),
    ]

    outcomes = race(
        2,
        lambda i: services.appointment_reschedule(
            appointment=appt, hold=holds[i], by=agents[i + 1], reason="patient_request"
        ),
    )

    assert outcomes == {"ok": 1, "AppointmentNotActive": 1}
    assert Appointment.objects.filter(status="booked", patient=patient).count() == 1
