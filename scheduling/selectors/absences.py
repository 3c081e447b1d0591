"""Time off and closures as rule facts, loaded per search for the dates it covers.

They are not part of the cached network snapshot: time off is entered all day long and
only the few rows inside a search window matter, so one indexed range read per search is
cheaper than invalidating the snapshot on every entry.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta

from ..models import LocationClosure, TimeOff
from ..rules.base import LocationFacts, ProviderFacts


def with_absences(
    *,
    locations: Mapping[int, LocationFacts],
    providers: Mapping[int, ProviderFacts],
    location_ids: Iterable[int],
    provider_ids: Iterable[int],
    first_day: date,
    last_day: date,
) -> tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]:
    """Copies of the facts with the closures and time off between two local dates.

    Only the facts that have an absence are replaced; the rest are the same objects.
    """
    loc_ids, prov_ids = list(set(location_ids)), list(set(provider_ids))
    closed: dict[int, set[date]] = defaultdict(set)
    for loc_id, day in LocationClosure.objects.filter(
        location_id__in=loc_ids, date__range=(first_day, last_day)
    ).values_list("location_id", "date"):
        closed[loc_id].add(day)
    # A day's slots span up to a day either side of UTC midnight in the location's zone.
    window_start = datetime.combine(first_day - timedelta(days=1), time.min, tzinfo=UTC)
    window_end = datetime.combine(last_day + timedelta(days=2), time.min, tzinfo=UTC)
    off: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for prov_id, starts_at, ends_at in TimeOff.objects.filter(
        provider_id__in=prov_ids, ends_at__gt=window_start, starts_at__lt=window_end
    ).values_list("provider_id", "starts_at", "ends_at"):
        off[prov_id].append((starts_at, ends_at))
    new_locations = dict(locations)
    for loc_id, days in closed.items():
        if loc_id in new_locations:
            new_locations[loc_id] = dataclasses.replace(
                new_locations[loc_id], closed_dates=frozenset(days)
            )
    new_providers = dict(providers)
    for prov_id, spans in off.items():
        if prov_id in new_providers:
            new_providers[prov_id] = dataclasses.replace(
                new_providers[prov_id], time_off=tuple(sorted(spans))
            )
    return new_locations, new_providers
