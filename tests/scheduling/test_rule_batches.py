"""Judging many candidates at once gives each the verdict judging it alone gives.

A rule's ``evaluate_many`` may skip the candidates it can tell pass with no points; the
engine's ``judge_each`` and ``batch_judger`` combine the rules' answers per candidate.
Both are checked here against ``evaluate`` and ``judge`` of one candidate at a time, on
random facts that make every rule pass, score and exclude some of them.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta

import pytest

from scheduling.rules.base import (
    Candidate,
    Kind,
    LocationFacts,
    PatientFacts,
    PatientVisit,
    Preferences,
    ProviderFacts,
    RuleConfig,
    RuleContext,
    Scope,
    SlotFacts,
    TypeFacts,
    VisitResources,
)
from scheduling.rules.registry import RULES, batch_judger, judge, judge_each

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
ZONES = ("America/Denver", "America/Phoenix", "America/Los_Angeles")
EQUIPMENT = ("pano", "cbct", "laser", "wheelchair")


def _location(rng: random.Random, pk: int) -> LocationFacts:
    equipment = frozenset(rng.sample(EQUIPMENT, rng.randint(0, 3)))
    return LocationFacts(
        id=pk,
        name=f"Site {pk}",
        time_zone=rng.choice(ZONES),
        latitude=rng.choice([None, 33 + rng.random() * 8]),
        longitude=rng.choice([None, -112 - rng.random() * 8]),
        equipment=equipment,
        rooms=rng.choice([(), (equipment,), (frozenset({"pano"}), equipment - {"pano"})]),
        hours={d: (time(rng.randint(6, 9)), time(rng.randint(15, 20))) for d in range(5)},
        in_network=rng.choice([None, True, False]),
        closed_dates=rng.choice([frozenset(), frozenset({NOW.date() + timedelta(days=1)})]),
    )


def _provider(rng: random.Random, pk: int) -> ProviderFacts:
    off = NOW + timedelta(hours=rng.randint(0, 48))
    return ProviderFacts(
        id=pk,
        name=f"Dr. {pk}",
        capabilities=frozenset(rng.sample(["general", "endo", "ortho"], rng.randint(0, 2))),
        languages=tuple(rng.sample(["en", "es", "vi"], rng.randint(0, 2))),
        min_age=rng.choice([0, 0, 18]),
        max_age=rng.choice([120, 120, 17]),
        accepts_new_patients=rng.random() < 0.7,
        in_network=rng.choice([None, True, False]),
        time_off=rng.choice([(), ((off, off + timedelta(hours=8)),)]),
    )


def _context(rng: random.Random, providers: list[ProviderFacts]) -> RuleContext:
    ids = [p.id for p in providers]
    visit_at = NOW + timedelta(hours=rng.randint(1, 30))
    home = rng.random() < 0.8
    return RuleContext(
        patient=PatientFacts(
            age=rng.choice([8, 40, 70]),
            language=rng.choice(["en", "es", "", "vi"]),
            home_lat=33 + rng.random() * 8 if home else None,
            home_lon=-112 - rng.random() * 8 if home else None,
            plan_id=rng.choice([None, 5]),
            plan_name=rng.choice(["", "Delta PPO"]),
            established_provider_ids=frozenset(rng.sample(ids, 3)),
            previous_provider_ids=tuple(rng.sample(ids, rng.randint(0, 3))),
            needs_equipment=frozenset(rng.sample(EQUIPMENT, rng.randint(0, 1))),
            active_visits=rng.choice(
                [
                    (),
                    (PatientVisit(1, visit_at, visit_at + timedelta(hours=1), "Site 1", ZONES[0]),),
                ]
            ),
            state=rng.choice(["", "CO"]),
        ),
        appointment_type=TypeFacts(
            id=1,
            name="Visit",
            duration_minutes=rng.choice([30, 60]),
            capabilities=frozenset(rng.sample(["general", "endo"], rng.randint(0, 1))),
            equipment=frozenset(rng.sample(EQUIPMENT, rng.randint(0, 2))),
            telehealth=rng.random() < 0.3,
            assistant_capability=rng.choice(["", "hygiene"]),
            mobile_equipment=rng.choice(["", "cart"]),
        ),
        now=NOW,
        prefs=Preferences(
            max_distance_miles=rng.choice([None, 30.0, 200.0]),
            preferred_time_of_day=rng.choice(["any", "morning", "afternoon"]),
            earliest=NOW.date(),
        ),
        configs={
            "distance-from-home": RuleConfig(weight=rng.choice([0.0, 3.0])),
            "language-match": RuleConfig(weight=rng.choice([0.0, 1.5])),
        },
        licensed_until={pk: date(2026, 3, rng.randint(1, 9)) for pk in rng.sample(ids, 5)},
        resources=rng.choice(
            [None, VisitResources(staff_at={1: (2,)}, equipment_name="cart", equipment_at={1})]
        ),
    )


def _candidates(
    rng: random.Random, locations: list[LocationFacts], providers: list[ProviderFacts]
) -> list[Candidate]:
    cands = []
    for _ in range(40):
        start = NOW + timedelta(minutes=30 * rng.randint(-4, 96))
        slot = SlotFacts(
            rng.randint(1, 10**6),
            start,
            start + timedelta(minutes=rng.choice([30, 60])),
            free=rng.random() < 0.9,
            held_by_other=rng.random() < 0.1,
        )
        cands.append(Candidate(rng.choice(locations), rng.choice(providers), slot))
    return cands


@pytest.mark.parametrize("seed", range(40))
def test_many_candidates_get_the_verdicts_they_get_one_at_a_time(seed):
    rng = random.Random(seed)
    locations = [_location(rng, pk) for pk in range(1, 9)]
    providers = [_provider(rng, pk) for pk in range(10, 30)]
    ctx = _context(rng, providers)
    cands = _candidates(rng, locations, providers)

    for rule in RULES:
        config = ctx.config(rule)
        alone = [(i, rule.evaluate(ctx, cand, config)) for i, cand in enumerate(cands)]
        said = [(i, v) for i, v in alone if v.excluded or v.points]
        assert rule.evaluate_many(ctx, cands, config) == said, rule.key
    for scope in Scope:
        # judge_each also leaves out the rules that do not apply (Rule.applies).
        assert judge_each(ctx, cands, scope) == [judge(ctx, c, scope) for c in cands], scope
        for kinds in (frozenset({Kind.HARD}), frozenset({Kind.SOFT})):
            together = batch_judger(ctx, scope, kinds)(ctx, cands)
            assert together == [judge(ctx, c, scope, kinds=kinds) for c in cands], scope
