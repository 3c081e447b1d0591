"""Time off and closures as rule facts, loaded per search for the dates it covers.

They are not part of the cached network snapshot: time off is entered all day long and
only the few rows inside a search window matter, so one indexed range read per search is
cheaper than invalidating the snapshot on every entry. A slot search reads them in the
same round trip as the patient's facts (``loading.search_rows``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import date, datetime

from ..rules import loading
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
    closed, off = loading.absence_rows(
        first_day,
        last_day,
        location_ids=set(location_ids),
        provider_ids=set(provider_ids),
    )
    return apply_absences(locations=locations, providers=providers, closed=closed, off=off)


def apply_absences(
    *,
    locations: Mapping[int, LocationFacts],
    providers: Mapping[int, ProviderFacts],
    closed: Mapping[int, frozenset[date]],
    off: Mapping[int, tuple[tuple[datetime, datetime], ...]],
) -> tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]:
    """Copies of the facts with the closure days and time off read for them."""
    new_locations = dict(locations)
    for loc_id, days in closed.items():
        if loc_id in new_locations:
            new_locations[loc_id] = dataclasses.replace(new_locations[loc_id], closed_dates=days)
    new_providers = dict(providers)
    for prov_id, spans in off.items():
        if prov_id in new_providers:
            new_providers[prov_id] = dataclasses.replace(new_providers[prov_id], time_off=spans)
    return new_locations, new_providers
