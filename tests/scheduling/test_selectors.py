"""slot_search on the real database: scoping, holds, long visits, filters, settings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection

from billing.models import NetworkParticipation
from patients.models import ClinicalFact
from scheduling import services
from scheduling.models import (
    AgentProfile,
    Equipment,
    LocationClosure,
    ResourceBooking,
    Room,
    RuleSetting,
    TimeOff,
)
from scheduling.rules import loading
from scheduling.rules.registry import RULES
from scheduling.seed_extras import rule_settings_ensure
from scheduling.selectors import slot_reads, slot_search
from tests import factories as f

pytestmark = pytest.mark.django_db
DAY = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=16, minute=0, second=0, microsecond=0)


@pytest.fixture
def network():
    home, away = f.region(), f.region()
    denver = f.location(region=home)
    phoenix = f.location(
        region=away,
        time_zone="America/Phoenix",
        zip_code="85004",
        latitude=33.45,
        longitude=-112.07,
    )
    near = f.provider(locations=[denver])
    far = f.provider(locations=[phoenix])
    slots = {
        "denver": [
            f.slot(provider=near, location=denver, start=DAY + timedelta(minutes=30 * i))
            for i in range(3)
        ],
        "phoenix": [
            f.slot(provider=far, location=phoenix, start=DAY + timedelta(minutes=30 * i))
            for i in range(3)
        ],
    }
    return home, away, denver, phoenix, near, far, slots


def test_an_agent_sees_the_home_region_first_and_can_widen(network, agent):
    home, _, denver, phoenix, *_ = network
    AgentProfile.objects.create(user=agent, home_region=home)
    visit, patient = f.appointment_type(), f.patient()

    scoped = slot_search(patient=patient, appointment_type=visit, user=agent)
    wide = slot_search(patient=patient, appointment_type=visit, user=agent, home_region_only=False)

    assert scoped.scoped_to_home_region and {o.location_id for o in scoped.options} == {denver.pk}
    assert {o.location_id for o in wide.options} == {denver.pk, phoenix.pk}
    # Denver is the patient's ZIP: closer ranks first at equal times.
    assert wide.options[0].location_id == denver.pk
    assert wide.options[0].distance_miles == pytest.approx(0, abs=1)


def test_times_are_shown_in_each_locations_zone(network, agent):
    *_, slots = network
    result = slot_search(
        patient=f.patient(), appointment_type=f.appointment_type(), home_region_only=False
    )
    by_slot = {o.slot_id: o for o in result.options}
    assert by_slot[slots["denver"][0].pk].local_start.strftime("%H:%M") == "09:00"
    assert by_slot[slots["phoenix"][0].pk].local_start.strftime("%H:%M") == "09:00"
    assert [g.day for g in result.days] == sorted(g.day for g in result.days)


def test_slots_another_agent_holds_show_as_held_and_short_runs_are_not_offered(
    network, agent, other_agent
):
    *_, slots = network
    services.hold_place(slot=slots["denver"][1], by=other_agent)
    hour_visit = f.appointment_type(duration_minutes=60)

    result = slot_search(
        patient=f.patient(), appointment_type=hour_visit, user=agent, home_region_only=False
    )

    bookable = {o.slot_id for o in result.options}
    held = {o.slot_id: o.hold_note for o in result.held}
    # Denver 09:00 needs the held 09:30 unit; 09:30 is held; 10:00 has no unit after it.
    assert bookable == {slots["phoenix"][0].pk, slots["phoenix"][1].pk}
    assert held == {
        slots["denver"][0].pk: "held by another agent",
        slots["denver"][1].pk: "held by another agent",
    }
    assert not any(o.held_by_me or o.held for o in result.options)
    shown = [o for day in result.days for o in day.options]
    assert {o.slot_id for o in shown} == bookable | set(held)
    assert all(o.end - o.start == timedelta(minutes=60) for o in shown)


def test_the_agent_holding_a_slot_sees_it_as_theirs_to_book(network, agent, other_agent):
    *_, slots = network
    call = services.call_start(agent=other_agent)
    services.hold_place(slot=slots["denver"][1], by=other_agent, call=call)

    result = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        user=other_agent,
        home_region_only=False,
    )

    mine = [o for o in result.options if o.slot_id == slots["denver"][1].pk]
    assert len(mine) == 1
    assert mine[0].held_by_me and mine[0].bookable
    assert mine[0].hold_note == "held by you on this call"
    assert not result.held


def test_held_slots_never_take_the_place_of_bookable_ones(network, other_agent):
    *_, slots = network
    for slot in slots["denver"]:
        services.hold_place(slot=slot, by=other_agent)

    result = slot_search(
        patient=f.patient(), appointment_type=f.appointment_type(), home_region_only=False, limit=3
    )

    # Denver is nearer and ranks first, but its held slots do not push Phoenix out.
    assert [o.slot_id for o in result.options] == [s.pk for s in slots["phoenix"]]
    assert {o.slot_id for o in result.held} == {s.pk for s in slots["denver"]}


def test_time_of_day_narrows_in_local_time(network):
    *_, _slots = network
    result = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        time_of_day="afternoon",
        home_region_only=False,
    )
    assert result.options == ()


def test_an_excluded_provider_is_listed_with_the_reason(network):
    *_, near, far, _ = network
    far.min_patient_age = 18
    far.save()
    child = f.patient(date_of_birth=(datetime.now(tz=UTC) - timedelta(days=365 * 8 + 30)).date())

    result = slot_search(
        patient=child, appointment_type=f.appointment_type(), home_region_only=False
    )

    assert [(e.kind, e.id, e.reasons) for e in result.excluded] == [
        ("provider", far.pk, (f"patient is 8; {far} sees 18 and over",))
    ]
    assert {o.provider_id for o in result.options} == {near.pk}


def test_a_slot_inside_time_off_or_a_closure_is_never_offered(network):
    _, _, _, phoenix, near, _, slots = network
    TimeOff.objects.create(
        provider=near, starts_at=slots["denver"][0].start, ends_at=slots["denver"][1].end
    )
    LocationClosure.objects.create(
        location=phoenix, date=phoenix.local(DAY).date(), reason="Power outage"
    )

    result = slot_search(
        patient=f.patient(), appointment_type=f.appointment_type(), home_region_only=False
    )

    assert [o.slot_id for o in result.options] == [slots["denver"][2].pk]
    # The best-ranked starts are the excluded ones: a page of one still finds the next.
    first = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        home_region_only=False,
        limit=1,
    )
    assert [o.slot_id for o in first.options] == [slots["denver"][2].pk]


def test_rule_settings_are_seeded_once_and_admin_edits_apply(network):
    assert rule_settings_ensure() == len(RULES)
    assert rule_settings_ensure() == 0
    *_, _near, far, _ = network
    far.accepts_new_patients = False
    far.save()
    RuleSetting.objects.filter(key="provider-accepts-new").update(enabled=False)

    result = slot_search(
        patient=f.patient(), appointment_type=f.appointment_type(), home_region_only=False
    )

    assert far.pk in {o.provider_id for o in result.options}


def test_an_edit_between_two_searches_is_seen_by_the_second(network):
    """The network snapshot is reused between searches only while its rows are unchanged."""
    *_, near, _far, _ = network
    patient, visit = (
        f.patient(date_of_birth=datetime(2019, 1, 1, tzinfo=UTC).date()),
        f.appointment_type(),
    )
    first = slot_search(patient=patient, appointment_type=visit, home_region_only=False)
    assert near.pk in {o.provider_id for o in first.options}

    type(near).objects.filter(pk=near.pk).update(min_patient_age=18)  # no signals, no save()

    second = slot_search(patient=patient, appointment_type=visit, home_region_only=False)
    assert near.pk not in {o.provider_id for o in second.options}
    assert ("provider", near.pk) in {(e.kind, e.id) for e in second.excluded}


def test_a_visit_type_the_patient_cannot_have_blocks_the_whole_search(network):
    existing_only = f.appointment_type(name="Periodic cleaning", patient_status="existing")

    result = slot_search(
        patient=f.patient(), appointment_type=existing_only, home_region_only=False
    )

    assert result.options == () and result.excluded == ()
    assert result.blocked == (
        "Periodic cleaning is for established patients; the patient is new to the practice",
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="compares PostgreSQL's one-round-trip read with the portable one",
)
def test_the_one_trip_patient_read_matches_the_portable_one(network):
    _, _, denver, phoenix, near, far, slots = network
    patient = f.patient()
    plan = f.plan()
    f.coverage(patient=patient, plan=plan)
    f.coverage(patient=patient, plan=f.plan(), priority=2)
    ClinicalFact.objects.create(
        patient=patient,
        kind="need",
        description="needs sedation",
        requires_equipment=Equipment.objects.create(code="iv", name="IV suite"),
        recorded_at=datetime.now(tz=UTC),
    )
    visit = f.appointment_type()
    f.appointment(patient=patient, slot=slots["denver"][0], appointment_type=visit)
    f.appointment(
        patient=patient, slot=slots["phoenix"][1], appointment_type=visit, status="completed"
    )
    today = datetime.now(tz=UTC).date()
    NetworkParticipation.objects.create(plan=plan, location=denver, in_network=True)
    TimeOff.objects.create(
        provider=slots["denver"][0].provider,
        starts_at=datetime.combine(today + timedelta(days=2), time(9), tzinfo=UTC),
        ends_at=datetime.combine(today + timedelta(days=2), time(17), tzinfo=UTC),
    )
    LocationClosure.objects.create(location=phoenix, date=today + timedelta(days=3), reason="Storm")
    sterilized = datetime.combine(today + timedelta(days=4), time(12), tzinfo=UTC)
    ResourceBooking.objects.create(
        room=Room.objects.create(location=phoenix, name="Op 2"),
        start=sterilized,
        end=sterilized + timedelta(hours=1),
        reason="Sterilization",
        created_at=sterilized,
    )
    days = (today, today + timedelta(days=14))

    fast = loading.search_rows(patient, today=today, network_on=today, days=days)
    portable = loading._rows_portable(patient, today, today, days)

    assert fast.stamp is not None and portable.stamp is None
    assert dataclasses.replace(fast, stamp=None) == portable
    assert fast.coverage == (plan.pk, str(plan)) and fast.needs == frozenset({"iv"})
    assert [v[0] for v in fast.visits] == [far.pk, near.pk]
    assert fast.network == (frozenset({denver.pk}), frozenset())
    assert fast.closures == {phoenix.pk: frozenset({today + timedelta(days=3)})}
    assert list(fast.time_off) == [slots["denver"][0].provider_id]
    assert fast.room_blocked == frozenset({phoenix.pk})


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the plan's network is kept by version there"
)
def test_a_change_to_a_plans_network_is_read_by_the_next_search(network):
    _, _, denver, phoenix, *_ = network
    patient, plan = f.patient(), f.plan()
    f.coverage(patient=patient, plan=plan)
    NetworkParticipation.objects.create(plan=plan, location=denver, in_network=True)
    today = datetime.now(tz=UTC).date()

    first = loading.search_rows(patient, today=today, network_on=today)
    again = loading.search_rows(patient, today=today, network_on=today)
    # However the rows change (a saved row, a bulk update), the next read sees it.
    NetworkParticipation.objects.create(plan=plan, location=phoenix, in_network=True)
    added = loading.search_rows(patient, today=today, network_on=today)
    NetworkParticipation.objects.filter(plan=plan, location=denver).update(in_network=False)
    dropped = loading.search_rows(patient, today=today, network_on=today)

    assert first.network == again.network == (frozenset({denver.pk}), frozenset())
    assert again.network is not None and again.network[0] is first.network[0]  # kept
    assert added.network == (frozenset({denver.pk, phoenix.pk}), frozenset())
    assert dropped.network == (frozenset({phoenix.pk}), frozenset())


def local_units(provider, location, day, first: str, count: int) -> list:
    """``count`` back-to-back 30-minute units from local ``first`` (HH:MM) on ``day``."""
    start = datetime.combine(day, time.fromisoformat(first), tzinfo=location.tz)
    return [
        f.slot(provider=provider, location=location, start=start + timedelta(minutes=30 * i))
        for i in range(count)
    ]


@pytest.fixture
def busy_week():
    """A provider booked solid the day before next week's window, mornings and afternoons
    in it: more units ahead of the afternoons than a pair's share of the read."""
    location = f.location()
    provider = f.provider(locations=[location])
    monday = (datetime.now(tz=UTC) + timedelta(days=8)).date()
    local_units(provider, location, monday - timedelta(days=1), "08:00", 16)
    mornings = local_units(provider, location, monday, "08:00", 8)
    afternoons = local_units(provider, location, monday, "13:00", 4)
    return monday, mornings, afternoons


def test_afternoons_next_week_are_found_past_a_busy_day_before(busy_week):
    monday, _, afternoons = busy_week

    result = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        date_from=monday,
        date_to=monday + timedelta(days=4),
        time_of_day="afternoon",
        home_region_only=False,
        limit=3,
    )

    assert [o.slot_id for o in result.options] == [s.pk for s in afternoons[:3]]
    assert all(o.local_start.date() == monday for o in result.options)


def test_a_preferred_time_of_day_ranks_its_slots_first_even_after_many_others(busy_week):
    monday, mornings, afternoons = busy_week

    result = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(),
        date_from=monday,
        date_to=monday,
        preferred_time_of_day="afternoon",
        home_region_only=False,
        limit=3,
    )

    assert [o.slot_id for o in result.options] == [s.pk for s in afternoons[:3]]
    assert {o.slot_id for o in result.options}.isdisjoint(s.pk for s in mornings)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="compares the SQL read with the ORM one"
)
@pytest.mark.parametrize(
    ("time_of_day", "preferred"), [("afternoon", None), ("any", "afternoon"), ("morning", None)]
)
def test_the_sql_read_and_the_portable_read_return_the_same_units(
    busy_week, other_agent, time_of_day, preferred
):
    monday, mornings, _ = busy_week
    services.hold_place(slot=mornings[2], by=other_agent)
    search = slot_search(
        patient=f.patient(),
        appointment_type=f.appointment_type(duration_minutes=60),
        date_from=monday,
        date_to=monday + timedelta(days=2),
        time_of_day=time_of_day,
        preferred_time_of_day=preferred,
        home_region_only=False,
        limit=3,
    )
    read = search.extra["read"]

    sql = sorted(slot_reads._free_units_postgres(read))
    assert sql == sorted(slot_reads._free_units_portable(read))
    assert any(row[5] is not None for row in sql) == (time_of_day != "afternoon")


# Out-of-network override ----------------------------------------------------------


@pytest.fixture
def out_of_network():
    """Cherry Creek takes the patient's plan, Dr. Park does not; Lakewood takes neither
    the plan nor (lacking the scanner) implant consults."""
    net = f.console_network()
    from billing.models import Payer

    payer = Payer.objects.create(name="Delta Dental", payer_code="DDX01")
    plan = f.plan(payer=payer, name="PPO")
    patient = f.patient()
    f.coverage(patient=patient, plan=plan)
    f.in_network(plan=plan, location=net["cherry"])
    return net, patient


def test_out_of_network_options_are_offered_only_on_request_and_flagged(out_of_network, agent):
    net, patient = out_of_network
    plain = slot_search(patient=patient, appointment_type=net["consult"], user=agent)
    assert plain.options == () and not plain.out_of_network_allowed
    dentist = next(e for e in plain.excluded if e.kind == "provider")
    assert dentist.reasons == ("Dr. Lee Park is out of network for Delta Dental PPO",)

    wide = slot_search(
        patient=patient, appointment_type=net["consult"], user=agent, allow_out_of_network=True
    )

    assert wide.out_of_network_allowed
    assert [o.slot_id for o in wide.options] == [s.pk for s in net["slots"]["cherry-creek"]]
    assert all(o.out_of_network and o.bookable for o in wide.options)
    assert wide.options[0].network_note == (
        "Dr. Lee Park is out of network for Delta Dental PPO: needs an override reason"
    )
    assert [o.slot_id for d in wide.days for o in d.options] == [o.slot_id for o in wide.options]
    # Every other hard rule still excludes: Lakewood lacks the scanner (and the plan).
    lakewood = next(e for e in wide.excluded if e.name == "Lakewood Dental")
    assert "Lakewood Dental has no CBCT scanner, which Implant consult needs" in lakewood.reasons
    assert "Lakewood Dental is out of network for Delta Dental PPO" in lakewood.reasons
    assert all(e.kind != "provider" for e in wide.excluded)


def test_in_network_options_are_not_flagged_under_the_override(out_of_network, agent):
    net, patient = out_of_network
    plan = patient.coverages.get().plan
    f.in_network(plan=plan, provider=net["dentist"])

    result = slot_search(
        patient=patient, appointment_type=net["consult"], user=agent, allow_out_of_network=True
    )

    assert len(result.options) == 3
    assert not any(o.out_of_network or o.network_note for o in result.options)


def test_the_override_is_ignored_without_the_permission(out_of_network, outsider):
    net, patient = out_of_network

    result = slot_search(
        patient=patient, appointment_type=net["consult"], user=outsider, allow_out_of_network=True
    )

    assert result.options == () and not result.out_of_network_allowed
    assert any("out of network" in r for e in result.excluded for r in e.reasons)
