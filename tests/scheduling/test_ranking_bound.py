"""Slot search ranks only the pairs whose best possible score could make the list: the
same options, scores and exclusions as ranking every start, with fewer starts scored."""

from __future__ import annotations

import random
import sys
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from patients.models import Patient
from scheduling.models import AppointmentType, Location, Region
from scheduling.selectors import slot_search

pytestmark = pytest.mark.django_db

search_module = sys.modules[slot_search.__module__]


def _shown(result):
    return (result.options, result.held, result.days, result.excluded, result.blocked)


def test_bounded_ranking_shows_what_ranking_every_start_shows(monkeypatch):
    call_command(
        "seed_demo",
        "--locations",
        "10",
        "--providers",
        "40",
        "--patients",
        "120",
        "--days",
        "14",
        "--history-months",
        "1",
    )
    rng = random.Random(7)
    now = timezone.now()
    patients = list(Patient.objects.order_by("pk")[:40])
    types = list(AppointmentType.objects.filter(active=True, telehealth=False))
    regions, locations = list(Region.objects.all()), list(Location.objects.all())
    scored: list[int] = []
    real_scorer = search_module.soft_start_scorer

    def counting_scorer(ctx, scope):
        score = real_scorer(ctx, scope)

        def counted(starts):
            scored.append(len(starts))
            return score(starts)

        return counted

    monkeypatch.setattr(search_module, "soft_start_scorer", counting_scorer)
    # A small network has tens of pairs, not hundreds: build them two at a time at first,
    # and judge starts four at a time (the ranked order is settled a batch ahead).
    monkeypatch.setattr(search_module, "FIRST_PAIRS", 2)
    monkeypatch.setattr(search_module, "BATCH", 4)
    bounded_starts = every_start = 0
    compared = 0
    for patient in patients:
        query = {
            "patient": patient,
            "appointment_type": rng.choice(types),
            "home_region_only": False,
            "limit": rng.choice([3, 10, 30]),
            "now": now,
        }
        if rng.random() < 0.3:
            query["region"] = rng.choice(regions)
        elif rng.random() < 0.2:
            query["location"] = rng.choice(locations)
        if rng.random() < 0.4:
            query["preferred_time_of_day"] = rng.choice(["morning", "afternoon"])
        if rng.random() < 0.3:
            query["date_from"] = now.date() + timedelta(days=rng.randint(0, 7))

        scored.clear()
        bounded = slot_search(**query)
        bounded_starts += sum(scored)
        with monkeypatch.context() as unbounded:
            unbounded.setattr(search_module, "soft_start_bound", lambda ctx, scope: None)
            scored.clear()
            every = slot_search(**query)
            every_start += sum(scored)

        assert _shown(bounded) == _shown(every), query
        compared += bool(every.options)

    assert compared >= 12  # enough searches found options to compare
    assert bounded_starts < every_start  # the bound left some pairs unranked
