"""Slot utilization for a past period: the capacity each day offered is kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from scheduling import services
from scheduling.kpi import selectors
from scheduling.kpi.filters import KpiFilters
from scheduling.models import CapacityDay, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db


def _utilization(period: KpiFilters):
    return next(m for m in selectors.capacity_metrics(period) if m.key == "utilization")


def test_a_past_day_kept_by_the_materializer_still_counts_after_its_slots_are_gone():
    loc = f.location()
    prov = f.provider(locations=[loc])
    yesterday = timezone.now().astimezone(UTC).date() - timedelta(days=1)
    at = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=16)
    for i, status in enumerate(["booked", "booked", "free", "free"]):
        f.slot(provider=prov, location=loc, start=at + timedelta(minutes=30 * i), status=status)

    services.slots_materialize(days=1)
    Slot.objects.all().delete()

    assert CapacityDay.objects.get(day=yesterday).booked == 2
    metric = _utilization(KpiFilters(date_from=yesterday, date_to=yesterday))
    assert (metric.numerator, metric.denominator) == (2, 4)
    assert metric.value == pytest.approx(50.0)


def test_the_demo_default_period_has_a_plausible_utilization():
    call_command(
        "seed_demo", "--locations", "3", "--providers", "8", "--patients", "120", "--days", "14",
        "--history-months", "2", "--seed", "5",
    )  # fmt: skip
    today = timezone.now().astimezone(UTC).date()
    default = KpiFilters(date_from=today - timedelta(days=30), date_to=today - timedelta(days=1))

    metric = _utilization(default)

    assert metric.value is not None and 0 < metric.value <= 100
    assert metric.previous is not None
