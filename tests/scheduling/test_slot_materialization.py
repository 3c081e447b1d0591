from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, time, timedelta

import pytest
from django.db import IntegrityError, transaction

from scheduling import services
from scheduling.models import Hold, LocationClosure, ScheduleTemplate, Slot, TimeOff
from scheduling.services import slots_materialize
from tests import factories as f

DENVER = zoneinfo.ZoneInfo("America/Denver")
pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    loc = f.location(time_zone="America/Denver")
    prov = f.provider(locations=[loc])
    return loc, prov


def _next_weekday(start: date, weekday: int) -> date:
    return start + timedelta(days=(weekday - start.weekday()) % 7)


def test_it_creates_slots_for_each_template_day_in_local_time(setup):
    loc, prov = setup
    monday = _next_weekday(date.today() + timedelta(days=1), 0)
    f.template(provider=prov, location=loc, weekday=0, start=time(8), end=time(12), slot_minutes=30)

    result = slots_materialize(start=monday, days=7)

    assert result.created == 8
    starts = sorted(s.start.astimezone(DENVER) for s in Slot.objects.all())
    assert starts[0].time() == time(8) and starts[-1].time() == time(11, 30)
    assert all(s.date() == monday for s in starts)


def test_it_is_idempotent(setup):
    loc, prov = setup
    for weekday in range(5):
        f.template(provider=prov, location=loc, weekday=weekday)
    first = slots_materialize(days=30)
    count = Slot.objects.count()

    second = slots_materialize(days=30)

    assert first.created > 0
    assert second.created == 0 and second.removed == 0
    assert Slot.objects.count() == count


def test_it_leaves_booked_slots_alone_when_the_template_goes_away(setup):
    loc, prov = setup
    tmpl = f.template(provider=prov, location=loc, weekday=2)
    slots_materialize(days=14)
    booked = Slot.objects.order_by("start").first()
    f.appointment(patient=f.patient(), slot=booked, appointment_type=f.appointment_type())
    free_before = Slot.objects.filter(status=Slot.Status.FREE).count()

    tmpl.active = False
    tmpl.save()
    result = slots_materialize(days=14)

    assert result.removed == free_before
    assert list(Slot.objects.values_list("pk", "status")) == [(booked.pk, "booked")]


def test_it_keeps_a_free_slot_that_an_agent_is_holding(setup, agent):
    loc, prov = setup
    tmpl = f.template(provider=prov, location=loc, weekday=3)
    slots_materialize(days=14)
    held = Slot.objects.order_by("start").first()
    now = datetime.now(tz=UTC)
    Hold.objects.create(
        slot=held, held_by=agent, created_at=now, expires_at=now + timedelta(minutes=3)
    )

    tmpl.delete()
    slots_materialize(days=14)

    assert list(Slot.objects.values_list("pk", flat=True)) == [held.pk]


def test_time_off_and_closures_remove_free_slots(setup):
    loc, prov = setup
    monday = _next_weekday(date.today() + timedelta(days=1), 0)
    f.template(provider=prov, location=loc, weekday=0, start=time(8), end=time(12))
    f.template(provider=prov, location=loc, weekday=1, start=time(8), end=time(12))
    slots_materialize(start=monday, days=7)
    assert Slot.objects.count() == 16

    TimeOff.objects.create(
        provider=prov,
        starts_at=datetime.combine(monday, time(10), tzinfo=DENVER),
        ends_at=datetime.combine(monday, time(12), tzinfo=DENVER),
    )
    LocationClosure.objects.create(
        location=loc, date=monday + timedelta(days=1), reason="Staff training"
    )
    result = slots_materialize(start=monday, days=7)

    assert result.removed == 12
    local_times = sorted(s.start.astimezone(DENVER).time() for s in Slot.objects.all())
    assert local_times == [time(8), time(8, 30), time(9), time(9, 30)]


def test_breaks_are_not_bookable(setup):
    loc, prov = setup
    monday = _next_weekday(date.today() + timedelta(days=1), 0)
    f.template(
        provider=prov,
        location=loc,
        weekday=0,
        start=time(11),
        end=time(14),
        break_start=time(12),
        break_end=time(13),
    )

    slots_materialize(start=monday, days=1)

    local_times = sorted(s.start.astimezone(DENVER).time() for s in Slot.objects.all())
    assert local_times == [time(11), time(11, 30), time(13), time(13, 30)]


def _us_dst_sundays() -> tuple[date, date]:
    """Next year's US DST change days: second Sunday of March, first Sunday of November."""
    year = date.today().year + 1
    march = date(year, 3, 1)
    spring = march + timedelta(days=(6 - march.weekday()) % 7 + 7)
    november = date(year, 11, 1)
    fall = november + timedelta(days=(6 - november.weekday()) % 7)
    return spring, fall


@pytest.mark.parametrize(
    ("change", "offset_before", "offset_after"),
    [
        ("spring", -7, -6),  # MST → MDT
        ("fall", -6, -7),  # MDT → MST
    ],
)
def test_a_denver_0800_template_stays_0800_local_across_dst(
    setup, change, offset_before, offset_after
):
    loc, prov = setup
    sunday = _us_dst_sundays()[0 if change == "spring" else 1]
    f.template(
        provider=prov, location=loc, weekday=4, start=time(8), end=time(8, 30)
    )  # Friday before
    f.template(
        provider=prov, location=loc, weekday=0, start=time(8), end=time(8, 30)
    )  # Monday after

    slots_materialize(start=sunday - timedelta(days=2), days=4)

    before, after = Slot.objects.order_by("start")
    assert before.start.astimezone(DENVER).time() == time(8)
    assert after.start.astimezone(DENVER).time() == time(8)
    assert before.start.astimezone(UTC).hour == 8 - offset_before
    assert after.start.astimezone(UTC).hour == 8 - offset_after
    assert after.end - after.start == timedelta(minutes=30)


def test_wall_times_inside_the_spring_forward_gap_produce_no_slot(setup):
    loc, prov = setup
    sunday = _us_dst_sundays()[0]
    f.template(provider=prov, location=loc, weekday=6, start=time(1), end=time(4), slot_minutes=60)

    slots_materialize(start=sunday, days=1)

    # 02:00-03:00 does not exist in Denver that night: 01:00 and 03:00 only.
    local = sorted(s.start.astimezone(DENVER).strftime("%H:%M %Z") for s in Slot.objects.all())
    assert local == ["01:00 MST", "03:00 MDT"]


def test_a_template_whose_end_is_before_its_start_is_rejected_with_a_clear_message(setup):
    loc, prov = setup
    tmpl = ScheduleTemplate(
        provider=prov, location=loc, weekday=0, start_time=time(17), end_time=time(8)
    )

    with pytest.raises(Exception) as excinfo:
        tmpl.full_clean()
    assert "end time must be after its start time" in str(excinfo.value)
    with pytest.raises(IntegrityError), transaction.atomic():
        tmpl.save()


def test_it_removes_a_slot_freed_by_a_cancellation_once_time_off_covers_it(setup, agent):
    loc, prov = setup
    f.template(provider=prov, location=loc, weekday=1, start=time(8), end=time(10))
    slots_materialize(days=14)
    first = Slot.objects.order_by("start").first()
    kind = f.appointment_type(duration_minutes=30)
    hold = services.hold_place(slot=first, by=agent)
    appt = services.appointment_book(
        hold=hold, patient=f.patient(), appointment_type=kind, by=agent, reason="new_problem"
    )
    TimeOff.objects.create(
        provider=prov, starts_at=first.start - timedelta(hours=1), ends_at=first.end
    )
    services.appointment_cancel(appointment=appt, by=agent, reason="provider_unavailable")

    slots_materialize(days=14)

    assert not Slot.objects.filter(pk=first.pk).exists()
    assert Slot.objects.filter(start=first.start).count() == 0
