"""Recurring series: planned with holds through the booking rules, booked in one go, and
changed one occurrence or the rest of the series at a time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from integrations.fhir.resources import SERIES_SYSTEM, appointment_resource, validated
from integrations.models import Connector, OutboxEvent
from integrations.relay import build_wire
from scheduling import services
from scheduling.models import Appointment, AppointmentSeries, Hold, Slot
from scheduling.recurrence import MONTHLY_WEEKDAY, WEEKLY, series_rrule, series_starts
from scheduling.selectors.holds import open_holds
from scheduling.services.series import ACCEPT, SKIP, UNDECIDED, WANTED_BOOKED
from tests import factories as f
from tests.conformance.fhir_validator import assert_valid

from .series_world import DENVER, Ortho, first_tuesday_nine

pytestmark = pytest.mark.django_db


@pytest.fixture
def ortho() -> Ortho:
    return Ortho()


def test_recurrence_keeps_local_wall_time_across_dst():
    first = first_tuesday_nine()
    rule = series_rrule(pattern=WEEKLY, first_local=first, interval=4, count=12)
    starts = series_starts(rule, first_start=first, time_zone="America/Denver")
    local = [s.astimezone(DENVER) for s in starts]
    assert rule == "FREQ=WEEKLY;INTERVAL=4;BYDAY=TU;COUNT=12"
    assert [(d.hour, d.minute) for d in local] == [(9, 0)] * 12
    assert {d.utcoffset() for d in local} == {timedelta(hours=-7), timedelta(hours=-6)}
    assert {s.hour for s in starts} == {15, 16}, "the UTC instant moves with the clock change"


def test_monthly_on_the_nth_weekday_until_a_date():
    first = datetime(2027, 1, 12, 9, tzinfo=DENVER)  # the 2nd Tuesday
    rule = series_rrule(pattern=MONTHLY_WEEKDAY, first_local=first, until=date(2027, 4, 30))
    starts = series_starts(rule, first_start=first, time_zone="America/Denver")
    assert [s.astimezone(DENVER).date() for s in starts] == [
        date(2027, 1, 12),
        date(2027, 2, 9),
        date(2027, 3, 9),
        date(2027, 4, 13),
    ]
    assert starts[-1] == datetime(2027, 4, 13, 15, tzinfo=UTC)  # 09:00 MDT


def test_a_visit_in_the_months_last_week_repeats_on_its_last_weekday():
    first = datetime(2027, 1, 26, 9, tzinfo=DENVER)  # the 4th and last Tuesday
    rule = series_rrule(pattern=MONTHLY_WEEKDAY, first_local=first, count=3)
    starts = series_starts(rule, first_start=first, time_zone="America/Denver")
    assert rule.endswith("BYDAY=-1TU;COUNT=3")
    assert [s.astimezone(DENVER).day for s in starts] == [26, 23, 30]  # March has five


def test_twelve_visits_across_dst_with_one_conflict_resolved_by_its_alternative(ortho, agent):
    taken_start = ortho.starts[4]
    other = f.patient()
    services.appointment_book(
        hold=services.hold_place(slot=ortho.slots[taken_start][0], by=agent),
        patient=other,
        appointment_type=ortho.visit,
        by=agent,
        reason="follow_up",
    )

    plan = ortho.plan(agent)

    conflict = plan.occurrence(5)
    assert conflict.reason == WANTED_BOOKED
    assert conflict.start == taken_start + timedelta(minutes=30), "nearest permitted start"
    assert conflict.decision == UNDECIDED
    assert [o.decision for o in plan.occurrences if o.number != 5] == [ACCEPT] * 11
    assert open_holds().filter(held_by=agent).count() == 12
    with pytest.raises(services.SeriesUndecided):
        ortho.book(agent, plan)

    services.series_decide(plan=plan, number=5, decision=ACCEPT, by=agent)
    series = ortho.book(agent, plan)

    booked = list(series.appointments.order_by("series_occurrence"))
    assert [a.series_occurrence for a in booked] == list(range(1, 13))
    local = [a.start.astimezone(DENVER) for a in booked]
    assert [f"{d:%H:%M}" for d in local] == ["09:00"] * 4 + ["09:30"] + ["09:00"] * 7
    expected = list(ortho.starts)
    expected[4] = taken_start + timedelta(minutes=30)
    assert [a.start for a in booked] == expected
    assert len({a.start.utcoffset() for a in booked}) == 1  # stored as UTC instants
    assert {a.start.astimezone(DENVER).utcoffset() for a in booked} == {
        timedelta(hours=-7),
        timedelta(hours=-6),
    }
    assert open_holds().filter(held_by=agent).count() == 0


def test_a_skipped_occurrence_is_not_booked_and_its_hold_is_given_back(ortho, agent):
    plan = ortho.plan(agent)
    services.series_decide(plan=plan, number=3, decision=SKIP, by=agent)
    assert open_holds().filter(held_by=agent).count() == 11

    series = ortho.book(agent, plan)

    assert sorted(series.appointments.values_list("series_occurrence", flat=True)) == [
        n for n in range(1, 13) if n != 3
    ]


def test_abandoning_the_plan_releases_every_hold(ortho, agent, other_agent):
    plan = ortho.plan(agent)
    assert open_holds().filter(held_by=agent).count() == 12

    assert services.series_abandon(plan=plan, by=agent) == 12

    assert open_holds().count() == 0
    again = services.hold_place(slot=ortho.slots[ortho.starts[7]][0], by=other_agent)
    assert again.held_by == other_agent


def test_a_failed_occurrence_books_none_of_the_series(ortho, agent):
    plan = ortho.plan(agent)
    Hold.objects.filter(pk=plan.occurrence(9).hold_id).update(released_at=datetime.now(tz=UTC))

    with pytest.raises(services.HoldExpired):
        ortho.book(agent, plan)

    assert not Appointment.objects.exists()
    assert not AppointmentSeries.objects.exists()


def test_adjusting_an_occurrence_holds_the_new_start_and_gives_the_old_one_back(ortho, agent):
    plan = ortho.plan(agent)
    old_hold = plan.occurrence(2).hold_id
    later = ortho.slots[ortho.starts[1]][1]

    services.series_adjust(
        plan=plan,
        number=2,
        slot=later,
        patient=ortho.patient,
        appointment_type=ortho.visit,
        by=agent,
    )

    assert plan.occurrence(2).start == later.start
    assert Hold.objects.get(pk=old_hold).released_at is not None
    assert open_holds().filter(pk=plan.occurrence(2).hold_id, slot=later).exists()
    assert services.SeriesPlan.from_dict(plan.to_dict()) == plan


def test_editing_this_one_moves_only_it_and_keeps_it_in_the_series(ortho, agent):
    series = ortho.book(agent, ortho.plan(agent))
    third = series.appointments.get(series_occurrence=3)
    target = ortho.slots[ortho.starts[2]][1]

    moved = services.appointment_reschedule(
        appointment=third,
        hold=services.hold_place(slot=target, by=agent, appointment_type=ortho.visit),
        by=agent,
        reason="patient_request",
    )

    assert (moved.series_id, moved.series_occurrence) == (series.pk, 3)
    assert moved.start.astimezone(DENVER).strftime("%H:%M") == "09:30"
    active = series.appointments.filter(status=Appointment.Status.BOOKED)
    assert active.count() == 12
    assert sorted(a.start for a in active if a.series_occurrence != 3) == [
        s for i, s in enumerate(ortho.starts) if i != 2
    ]


def test_cancelling_this_and_following_sends_one_s15_each_with_the_series(ortho, agent):
    connector = Connector.objects.create(
        name="Ortho PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=ortho.location,
        endpoint="127.0.0.1:1",
        sending_application="ORTHOPMS",
        sending_facility="DEN",
    )
    series = ortho.book(agent, ortho.plan(agent))
    ninth = series.appointments.get(series_occurrence=9)
    before = set(OutboxEvent.objects.values_list("pk", flat=True))

    cancelled = services.series_cancel(
        appointment=ninth, by=agent, reason="patient_request", following=True
    )

    assert [a.series_occurrence for a in cancelled] == [9, 10, 11, 12]
    statuses = dict(series.appointments.values_list("series_occurrence", "status"))
    assert [statuses[n] for n in range(1, 9)] == ["booked"] * 8
    events = OutboxEvent.objects.exclude(pk__in=before).order_by("pk")
    messages = [build_wire(e, connector, f"C{e.pk}").raw for e in events]
    assert len(messages) == 4
    by_id = {a.pk: a.series_occurrence for a in series.appointments.all()}
    seen = []
    for raw in messages:
        sch = next(s for s in raw.split("\r") if s.startswith("SCH|")).split("|")
        assert raw.split("\r")[0].split("|")[8] == "SIU^S15^SIU_S12"
        assert sch[4] == f"{series.pk}^CAREHUB"  # SCH-4 placer group number
        seen.append(by_id[int(sch[1].split("^")[0])])
    assert seen == [9, 10, 11, 12]


def test_cancelling_this_one_leaves_the_rest_booked(ortho, agent):
    series = ortho.book(agent, ortho.plan(agent))
    fourth = series.appointments.get(series_occurrence=4)

    services.series_cancel(appointment=fourth, by=agent, reason="patient_ill")

    booked = series.appointments.filter(status=Appointment.Status.BOOKED)
    assert sorted(booked.values_list("series_occurrence", flat=True)) == [
        n for n in range(1, 13) if n != 4
    ]
    assert Slot.objects.get(pk=ortho.slots[ortho.starts[3]][0].pk).status == Slot.Status.FREE


def test_each_fhir_appointment_names_its_series(ortho, agent):
    series = ortho.book(agent, ortho.plan(agent))
    second = series.appointments.get(series_occurrence=2)

    resource = validated(appointment_resource(second, external=True))

    assert {"system": SERIES_SYSTEM, "value": str(series.pk)} in resource["identifier"]
    assert_valid(resource)  # the FHIR JSON schema too, not only the R4B model


def test_moving_this_and_following_keeps_the_earlier_visits(ortho, agent):
    series = ortho.book(agent, ortho.plan(agent))
    ninth = series.appointments.get(series_occurrence=9)

    moved = services.series_move_following(
        appointment=ninth,
        slot=ortho.slots[ortho.starts[8]][1],
        by=agent,
        reason="patient_request",
    )

    assert [a.series_occurrence for a in moved] == [9, 10, 11, 12]
    active = series.appointments.filter(status=Appointment.Status.BOOKED).order_by("start")
    times = [a.start.astimezone(DENVER).strftime("%H:%M") for a in active]
    assert times == ["09:00"] * 8 + ["09:30"] * 4
    assert [a.start for a in moved] == [s + timedelta(minutes=30) for s in ortho.starts[8:]]


def test_a_blocked_occurrence_moves_none_of_the_following(ortho, agent, other_agent):
    series = ortho.book(agent, ortho.plan(agent))
    services.hold_place(slot=ortho.slots[ortho.starts[10]][1], by=other_agent)

    with pytest.raises(services.SeriesMoveBlocked) as refused:
        services.series_move_following(
            appointment=series.appointments.get(series_occurrence=9),
            slot=ortho.slots[ortho.starts[8]][1],
            by=agent,
            reason="patient_request",
        )

    assert refused.value.details == ["visit 11: This slot is held by another agent."]
    assert series.appointments.filter(status=Appointment.Status.BOOKED).count() == 12
    assert not open_holds().filter(held_by=agent).exists()


def test_visits_past_the_slot_horizon_are_laid_out_from_the_templates(agent, settings):
    settings.SLOT_HORIZON_DAYS = 30
    location = f.location()
    provider = f.provider(locations=[location])
    f.template(provider=provider, location=location, weekday=1)  # Tuesdays 08:00-12:00
    first = first_tuesday_nine()
    services.slots_materialize(days=30)
    rule = series_rrule(pattern=WEEKLY, first_local=first, interval=4, count=6)

    plan = services.series_plan(
        patient=f.patient(),
        appointment_type=f.appointment_type(duration_minutes=30),
        first_slot=Slot.objects.get(provider=provider, start=first),
        rrule=rule,
        by=agent,
    )

    assert [o.decision for o in plan.occurrences] == [ACCEPT] * 6
    assert [o.start for o in plan.occurrences] == [o.wanted for o in plan.occurrences]
    assert plan.occurrences[-1].start - plan.occurrences[0].start > timedelta(days=100)


def test_each_decision_restarts_the_clock_of_the_plans_live_holds(ortho, agent):
    plan = ortho.plan(agent)
    soon = datetime.now(tz=UTC) + timedelta(seconds=20)
    Hold.objects.filter(held_by=agent).update(expires_at=soon)
    past = datetime.now(tz=UTC) - timedelta(seconds=1)
    Hold.objects.filter(pk=plan.occurrence(12).hold_id).update(
        created_at=past - timedelta(minutes=3), expires_at=past
    )

    services.series_decide(plan=plan, number=3, decision=SKIP, by=agent)

    renewed = Hold.objects.filter(held_by=agent, released_at__isnull=True)
    assert renewed.filter(expires_at__gt=soon + timedelta(seconds=60)).count() == 10
    with pytest.raises(services.HoldExpired):
        ortho.book(agent, plan)
