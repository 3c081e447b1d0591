"""Every rule family on plain frozen facts: no database, no Django models."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

import pytest

from scheduling.rules.base import (
    Candidate,
    Kind,
    LocationFacts,
    Names,
    PatientFacts,
    Preferences,
    ProviderFacts,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    SlotFacts,
    TypeFacts,
)
from scheduling.rules.registry import (
    RULES,
    RULES_BY_KEY,
    judge,
    judge_all,
    soft_score,
    soft_start_scorer,
)

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday
AURORA = LocationFacts(
    id=1,
    name="Aurora",
    time_zone="America/Denver",
    region_id=1,
    latitude=39.7294,
    longitude=-104.8319,
    equipment=frozenset({"pano"}),
    hours={0: (time(7, 30), time(18, 0))},
    in_network=True,
)
LEE = ProviderFacts(
    id=10,
    name="Dr. Lee",
    capabilities=frozenset({"general", "implants"}),
    languages=("en", "es"),
    min_age=0,
    max_age=120,
    in_network=True,
)
ADULT = PatientFacts(
    age=40,
    language="es",
    home_lat=39.7392,
    home_lon=-104.9903,
    plan_id=5,
    plan_name="Delta Dental PPO",
)
CONSULT = TypeFacts(
    id=3,
    name="Implant consult",
    duration_minutes=60,
    capabilities=frozenset({"implants"}),
    equipment=frozenset({"cbct"}),
)
CHECKUP = TypeFacts(id=4, name="Checkup", duration_minutes=30, capabilities=frozenset({"general"}))
NAMES = Names(
    equipment={
        "cbct": "CBCT scanner",
        "pano": "Panoramic x-ray",
        "wheelchair-op": "wheelchair-accessible operatory",
    },
    capabilities={"implants": "Implant dentistry"},
)


def ctx(patient=ADULT, visit=CHECKUP, **kw) -> RuleContext:
    return RuleContext(patient=patient, appointment_type=visit, now=NOW, names=NAMES, **kw)


def slot_at(hour_utc: int, days: int = 1, minutes: int = 30, **kw) -> SlotFacts:
    start = (NOW + timedelta(days=days)).replace(hour=hour_utc)
    return SlotFacts(id=99, start=start, end=start + timedelta(minutes=minutes), **kw)


def reasons(c: RuleContext, cand: Candidate, scope: Scope) -> list[str]:
    return judge(c, cand, scope).reasons


# --- capability ---------------------------------------------------------------------------


def test_a_provider_without_the_skill_is_excluded():
    general_only = replace(LEE, capabilities=frozenset({"general"}))
    assert reasons(ctx(visit=CONSULT), Candidate(AURORA, general_only), Scope.PROVIDER) == [
        "Dr. Lee does not offer Implant dentistry, which Implant consult needs"
    ]
    assert reasons(ctx(visit=CONSULT), Candidate(AURORA, LEE), Scope.PROVIDER) == []


# --- equipment and rooms -----------------------------------------------------------------------


def test_a_location_without_the_equipment_is_excluded_with_its_name():
    assert reasons(ctx(visit=CONSULT), Candidate(AURORA), Scope.LOCATION) == [
        "Aurora has no CBCT scanner, which Implant consult needs"
    ]


def test_a_patients_equipment_need_is_named_without_the_condition():
    needs = replace(ADULT, needs_equipment=frozenset({"wheelchair-op"}))
    assert reasons(ctx(patient=needs), Candidate(AURORA), Scope.LOCATION) == [
        "Aurora has no wheelchair-accessible operatory, which the patient's recorded care needs require"
    ]


def test_equipment_spread_over_rooms_is_not_enough():
    split = replace(
        AURORA,
        equipment=frozenset({"cbct", "pano"}),
        rooms=(frozenset({"cbct"}), frozenset({"pano"})),
    )
    both = replace(CONSULT, equipment=frozenset({"cbct", "pano"}))
    assert reasons(ctx(visit=both), Candidate(split), Scope.LOCATION) == [
        "Aurora has no single room equipped with CBCT scanner and Panoramic x-ray"
    ]
    together = replace(split, rooms=(frozenset({"cbct", "pano"}),))
    assert reasons(ctx(visit=both), Candidate(together), Scope.LOCATION) == []


# --- network -----------------------------------------------------------------------------------


def test_out_of_network_location_and_provider_are_named_with_the_plan():
    out = Candidate(replace(AURORA, in_network=False), replace(LEE, in_network=False))
    c = ctx()
    assert reasons(c, out, Scope.LOCATION) == ["Aurora is out of network for Delta Dental PPO"]
    assert reasons(c, out, Scope.PROVIDER) == ["Dr. Lee is out of network for Delta Dental PPO"]
    assert judge_all(replace(c, network_override=True), out).reasons == []


def test_a_self_pay_patient_has_no_network_to_be_out_of():
    self_pay = Candidate(replace(AURORA, in_network=None), replace(LEE, in_network=None))
    assert judge_all(ctx(patient=replace(ADULT, plan_id=None)), self_pay).reasons == []


# --- age ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "low", "high", "reason"),
    [
        (8, 18, 120, "patient is 8; Dr. Kim sees 18 and over"),
        (19, 0, 17, "patient is 19; Dr. Kim sees up to 17"),
        (70, 12, 65, "patient is 70; Dr. Kim sees 12 to 65"),
    ],
)
def test_an_age_outside_the_range_is_explained(age, low, high, reason):
    kim = replace(LEE, name="Dr. Kim", min_age=low, max_age=high)
    assert reasons(
        ctx(patient=replace(ADULT, age=age)), Candidate(AURORA, kim), Scope.PROVIDER
    ) == [reason]


# --- new patients ---------------------------------------------------------------------------


def test_a_closed_panel_still_sees_its_established_patients():
    closed = replace(LEE, accepts_new_patients=False)
    assert reasons(ctx(), Candidate(AURORA, closed), Scope.PROVIDER) == [
        "Dr. Lee is not accepting new patients"
    ]
    known = replace(ADULT, established_provider_ids=frozenset({LEE.id}))
    assert reasons(ctx(patient=known), Candidate(AURORA, closed), Scope.PROVIDER) == []


def test_new_and_existing_only_visit_types_go_by_the_practice():
    new_only = replace(CHECKUP, name="New patient exam", patient_status="new")
    existing_only = replace(CHECKUP, name="Filling", patient_status="existing")
    known = replace(ADULT, established_with_group=True)
    assert reasons(ctx(patient=known, visit=new_only), Candidate(AURORA), Scope.VISIT) == [
        "New patient exam is for new patients; the patient is already established with the practice"
    ]
    assert reasons(ctx(visit=existing_only), Candidate(AURORA), Scope.VISIT) == [
        "Filling is for established patients; the patient is new to the practice"
    ]
    # Established with the practice, never seen by this hygienist: a cleaning is fine.
    assert judge_all(ctx(patient=known, visit=existing_only), Candidate(AURORA, LEE)).reasons == []


# --- hours and availability -------------------------------------------------------------------


def test_a_slot_outside_local_opening_hours_is_excluded():
    # 13:00 UTC is 06:00 in Denver: before Aurora opens at 07:30.
    early = Candidate(AURORA, LEE, slot_at(13, days=7))
    assert reasons(ctx(), early, Scope.SLOT) == ["Aurora is open 07:30 to 18:00 on Mondays"]
    tuesday = Candidate(AURORA, LEE, slot_at(16, days=1))
    assert reasons(ctx(), tuesday, Scope.SLOT) == ["Aurora is closed on Tuesdays"]
    assert reasons(ctx(), Candidate(AURORA, LEE, slot_at(16, days=7)), Scope.SLOT) == []


def test_a_booked_held_or_past_slot_is_excluded():
    monday = 7
    assert reasons(ctx(), Candidate(AURORA, LEE, slot_at(16, monday, free=False)), Scope.SLOT) == [
        "the slot is already booked"
    ]
    assert reasons(
        ctx(), Candidate(AURORA, LEE, slot_at(16, monday, held_by_other=True)), Scope.SLOT
    ) == ["the slot is held by another agent"]
    past = replace(AURORA, hours={})
    assert reasons(ctx(), Candidate(past, LEE, slot_at(16, days=-1)), Scope.SLOT) == [
        "the slot is in the past"
    ]


# --- distance ----------------------------------------------------------------------------------


def test_distance_ranks_closer_higher_and_a_limit_excludes():
    far = replace(AURORA, name="Pueblo", latitude=38.2544, longitude=-104.6091)
    near_points = judge(ctx(), Candidate(AURORA), Scope.LOCATION).score
    far_points = judge(ctx(), Candidate(far), Scope.LOCATION).score
    assert near_points > far_points >= 0
    limited = ctx(prefs=Preferences(max_distance_miles=25))
    assert reasons(limited, Candidate(far), Scope.LOCATION) == [
        "Pueblo is 105 miles from the patient's home ZIP (limit 25)"
    ]
    assert reasons(limited, Candidate(AURORA), Scope.LOCATION) == []


def test_it_keeps_ranking_nearer_locations_higher_at_any_distance():
    # A Colorado Springs patient: Denver is ~60 miles away, Scottsdale ~540, Phoenix ~550.
    springs = replace(ADULT, home_lat=38.8339, home_lon=-104.8214)
    denver = replace(AURORA, name="Denver", latitude=39.7392, longitude=-104.9903)
    scottsdale = replace(AURORA, name="Scottsdale", latitude=33.4942, longitude=-111.9261)
    phoenix = replace(AURORA, name="Phoenix", latitude=33.4484, longitude=-112.0740)
    points = [
        judge(ctx(patient=springs), Candidate(loc), Scope.LOCATION).score
        for loc in (denver, scottsdale, phoenix)
    ]
    assert points[0] > points[1] > points[2] > 0, points
    # Half the weight at the scale (50 miles by default): far from nothing at 60 miles.
    assert points[0] > 3.0 * 0.4


# --- continuity and language ---------------------------------------------------------------------


def test_continuity_and_language_add_points_with_notes():
    seen = replace(ADULT, previous_provider_ids=(LEE.id,))
    parts = {
        p.rule: p for p in judge(ctx(patient=seen), Candidate(AURORA, LEE), Scope.PROVIDER).parts
    }
    assert (
        parts["continuity"].points == 2.0
        and parts["continuity"].note == "seen this provider before"
    )
    assert parts["language-match"].note == "speaks es"
    stranger = replace(LEE, id=11, languages=("en",))
    assert judge(ctx(), Candidate(AURORA, stranger), Scope.PROVIDER).parts == ()


# --- timing ---------------------------------------------------------------------------------


def test_preferred_time_and_earliest_date_rank_slots():
    mornings = ctx(prefs=Preferences(preferred_time_of_day="morning"))
    morning = judge(mornings, Candidate(AURORA, LEE, slot_at(16, 7)), Scope.SLOT)  # 09:00 local
    afternoon = judge(mornings, Candidate(AURORA, LEE, slot_at(21, 7)), Scope.SLOT)  # 14:00 local
    later = judge(mornings, Candidate(AURORA, LEE, slot_at(16, 14)), Scope.SLOT)
    assert morning.score > afternoon.score
    assert morning.score > later.score
    assert {p.rule for p in morning.parts} == {"preferred-time", "earliest-date"}


@pytest.mark.parametrize("preferred", ["any", "morning", "afternoon", "evening"])
def test_ranking_points_are_the_points_the_verdicts_show(preferred):
    weights = {"preferred-time": RuleConfig(weight=1.7), "earliest-date": RuleConfig(weight=2.3)}
    c = ctx(prefs=Preferences(preferred_time_of_day=preferred), configs=weights)
    pair, starts, scores = Candidate(AURORA, LEE), [], []
    for days in (0, 1, 6, 29, 45):
        for hour in (3, 14, 16, 21, 23):
            cand = Candidate(AURORA, LEE, slot_at(hour, days))
            shown = judge(c, cand, Scope.SLOT, kinds=[Kind.SOFT])
            assert soft_score(c, cand, Scope.SLOT) == shown.score
            assert judge(c, cand, Scope.SLOT).parts == shown.parts
            starts.append((pair, 99, cand.slot.start))
            scores.append(shown.score)
    # The finder ranks all its starts at once; each rule's one-pass arithmetic is the
    # arithmetic of its own verdicts (and of the generic per-start fallback).
    assert soft_start_scorer(c, Scope.SLOT)(starts) == scores
    for key, config in weights.items():
        rule = RULES_BY_KEY[key]
        assert rule.start_points(c, starts, config) == Rule.start_points(rule, c, starts, config)


# --- settings -----------------------------------------------------------------------------------


def test_admin_settings_switch_rules_off_and_reweigh_them():
    closed = replace(LEE, accepts_new_patients=False)
    off = ctx(configs={"provider-accepts-new": RuleConfig(enabled=False)})
    assert reasons(off, Candidate(AURORA, closed), Scope.PROVIDER) == []
    heavy = ctx(configs={"language-match": RuleConfig(weight=10)})
    assert judge(heavy, Candidate(AURORA, LEE), Scope.PROVIDER).score == 10


def test_the_registry_lists_each_rule_once_with_metadata():
    assert len(RULES_BY_KEY) == len(RULES)
    for rule in RULES:
        assert rule.description and rule.kind in ("hard", "soft") and rule.scope in tuple(Scope)


def test_a_provider_who_cannot_do_the_visit_gets_that_reason_alone():
    orthodontist = replace(
        LEE, capabilities=frozenset({"orthodontics"}), in_network=False, min_age=18
    )
    child = replace(ADULT, age=8)
    assert reasons(
        ctx(patient=child, visit=CONSULT), Candidate(AURORA, orthodontist), Scope.PROVIDER
    ) == ["Dr. Lee does not offer Implant dentistry, which Implant consult needs"]
    dentist = replace(orthodontist, capabilities=frozenset({"implants"}))
    assert reasons(
        ctx(patient=child, visit=CONSULT), Candidate(AURORA, dentist), Scope.PROVIDER
    ) == [
        "Dr. Lee is out of network for Delta Dental PPO",
        "patient is 8; Dr. Lee sees 18 and over",
    ]


# --- the patient's own calendar -----------------------------------------------------------


def test_a_start_overlapping_the_patients_own_visit_is_excluded():
    from scheduling.rules.base import PatientVisit

    start = (NOW + timedelta(days=7)).replace(hour=18)  # Monday 12:00 in Denver (MDT)
    busy = replace(
        ADULT,
        active_visits=(
            PatientVisit(1, start, start + timedelta(hours=1), "Aurora", "America/Denver"),
        ),
    )
    clash = Candidate(AURORA, LEE, slot_at(18, days=7, minutes=30))
    assert reasons(ctx(patient=busy), clash, Scope.SLOT) == [
        "the patient already has a visit at Aurora 12:00\u201313:00 that day"
    ]
    straddling = Candidate(AURORA, LEE, replace(slot_at(17, days=7, minutes=90)))
    assert reasons(ctx(patient=busy), straddling, Scope.SLOT) != []
    # Same day, back to back or later: allowed.
    assert reasons(ctx(patient=busy), Candidate(AURORA, LEE, slot_at(19, days=7)), Scope.SLOT) == []
    before = replace(slot_at(17, days=7, minutes=60))
    assert reasons(ctx(patient=busy), Candidate(AURORA, LEE, before), Scope.SLOT) == []


# --- time off and closures -----------------------------------------------------------------


def test_a_slot_inside_time_off_or_on_a_closure_day_is_excluded():
    slot = slot_at(16, days=7)  # a Monday, when Aurora is open
    off = replace(LEE, time_off=((slot.start - timedelta(hours=2), slot.start + timedelta(1)),))
    closed = replace(AURORA, closed_dates=frozenset({slot.start.date()}))

    assert reasons(ctx(), Candidate(AURORA, off, slot), Scope.SLOT) == [
        "Dr. Lee is on time off then"
    ]
    assert reasons(ctx(), Candidate(closed, LEE, slot), Scope.SLOT) == [
        f"Aurora is closed on {slot.start:%a %b} {slot.start.day}"
    ]
    after = replace(LEE, time_off=((slot.end, slot.end + timedelta(hours=1)),))
    assert reasons(ctx(), Candidate(AURORA, after, slot), Scope.SLOT) == []


# --- rules that do not apply ------------------------------------------------------------


def test_a_rule_that_does_not_apply_passes_every_candidate_without_points():
    """``Rule.applies`` lets a search leave a rule out; it may say False only when the
    rule's verdict would be a plain pass for any candidate in that context."""
    homeless = replace(ADULT, home_lat=None, home_lon=None, previous_provider_ids=())
    near = replace(AURORA, id=2, latitude=39.74, longitude=-104.99)
    far = replace(AURORA, id=3, latitude=33.45, longitude=-112.07)  # Phoenix
    contexts = [
        ctx(),
        ctx(patient=homeless),
        ctx(prefs=Preferences(max_distance_miles=5)),
        ctx(patient=homeless, prefs=Preferences(max_distance_miles=5)),
        ctx(visit=replace(CHECKUP, telehealth=True)),
        ctx(patient=replace(ADULT, previous_provider_ids=(LEE.id,))),
    ]
    checked = 0
    for c in contexts:
        for rule in RULES:
            config = c.config(rule)
            if rule.applies(c, config):
                continue
            for loc in (AURORA, near, far):
                for prov in (LEE, replace(LEE, id=11, accepts_new_patients=False)):
                    cand = Candidate(loc, prov, slot_at(16))
                    verdict = rule.evaluate(c, cand, config)
                    assert not verdict.excluded and not verdict.points, (rule.key, c)
                    checked += 1
    assert checked
    # And where they do apply, they still judge.
    assert RULES_BY_KEY["max-distance"].applies(contexts[2], RuleConfig())
    assert judge(contexts[2], Candidate(far), Scope.LOCATION).excluded
