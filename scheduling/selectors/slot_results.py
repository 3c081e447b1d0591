"""What the slot finder returns: ranked options by day, and every exclusion with its
reasons, as frozen values the console, the API and FHIR ``$find`` all present."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..rules.base import Candidate, LocationFacts, ProviderFacts, RuleContext
from ..rules.distance import distance_miles
from ..rules.registry import Judgement, ScorePart

HELD_BY_OTHER = "held by another agent"
HELD_BY_ME = "held by you on this call"
NEEDS_OVERRIDE = "needs an override reason"


@dataclass(frozen=True)
class SlotOption:
    slot_id: int
    provider_id: int
    provider: str
    location_id: int
    location: str
    region_id: int | None
    start: datetime  # UTC
    end: datetime  # start + the visit's duration
    local_start: datetime  # in the location's zone: what the agent reads out
    local_end: datetime
    time_zone: str
    score: float
    breakdown: tuple[ScorePart, ...]
    distance_miles: float | None
    # Another agent holds (part of) this start: shown so the agent knows, not bookable.
    held: bool = False
    # The searching agent holds it (on this call): theirs to book.
    held_by_me: bool = False
    # Offered only because the agent asked for out-of-network options: booking it needs
    # an override reason. ``network_note`` says which side is out ("Dr. Lee is out of
    # network for Delta PPO: needs an override reason").
    out_of_network: bool = False
    network_note: str = ""

    @property
    def bookable(self) -> bool:
        return not self.held

    @property
    def hold_note(self) -> str:
        """Who holds the slot, as an agent may read it: never another agent's name."""
        if self.held:
            return HELD_BY_OTHER
        if self.held_by_me:
            return HELD_BY_ME
        return ""


@dataclass(frozen=True)
class DayGroup:
    day: date  # the location's local date
    options: tuple[SlotOption, ...]  # in clock order; the ranking is the result's options


@dataclass(frozen=True)
class Excluded:
    kind: str  # "location" | "provider"
    id: int
    name: str
    reasons: tuple[str, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class SlotSearchResult:
    options: tuple[SlotOption, ...]  # bookable (yours included), ranked, best first
    # Every start shown, by local day, days in date order and each day in clock order: the
    # options, plus the starts other agents hold (``held``), so the console can show them.
    days: tuple[DayGroup, ...]
    excluded: tuple[Excluded, ...]
    region_id: int | None  # the region the search was narrowed to, if any
    scoped_to_home_region: bool  # True when the agent's home region was applied by default
    date_from: date
    date_to: date
    locations_searched: int
    providers_searched: int
    extra: dict[str, Any] = field(default_factory=dict)
    # Reasons that rule out every option for this patient and visit type (e.g. an
    # existing-patients-only visit for someone new to the practice).
    blocked: tuple[str, ...] = ()
    # Starts other agents hold that rank among the options (also in ``days``).
    held: tuple[SlotOption, ...] = ()
    # True when out-of-network options were asked for and the user may override.
    out_of_network_allowed: bool = False
    # The region asked for, when the chosen location lies outside it: the location won
    # and the search covered it (``region_id`` is then None).
    widened_from_region_id: int | None = None


# A start picked to be shown: (-score, start, provider, slot, location, end, the pair's
# verdict, the start's soft verdict, holder note).
Ranked = tuple[float, datetime, int, int, int, datetime, Judgement, Judgement, str]


def slot_options(
    ranked: Iterable[Ranked],
    *,
    ctx: RuleContext,
    locations: Mapping[int, LocationFacts],
    providers: Mapping[int, ProviderFacts],
    zones: Mapping[int, zoneinfo.ZoneInfo],
    network_notes: Mapping[tuple[str, int], tuple[str, ...]],
) -> list[SlotOption]:
    """The shown starts as options, in the order given."""
    miles_at: dict[int, float | None] = {}  # a few locations, many starts each
    options = []
    for neg_score, start, prov_id, slot_id, loc_id, end, base, verdict, holder in ranked:
        loc, prov, tz = locations[loc_id], providers[prov_id], zones[loc_id]
        if loc_id in miles_at:
            miles = miles_at[loc_id]
        else:
            miles = distance_miles(ctx, Candidate(location=loc))
            miles = miles_at[loc_id] = None if miles is None else round(miles, 1)
        # Most searches have no out-of-network notes at all.
        network_note = _network_note(network_notes, loc_id, prov_id) if network_notes else ""
        # Positional, in the fields' order: a search builds dozens of options.
        options.append(
            SlotOption(
                slot_id,
                prov_id,
                prov.name,
                loc_id,
                loc.name,
                loc.region_id,
                start,
                end,
                start.astimezone(tz),  # local_start
                end.astimezone(tz),  # local_end
                loc.time_zone,
                round(-neg_score, 3),  # score
                base.parts + verdict.parts,  # breakdown: (base + verdict).parts
                miles,  # distance_miles
                holder == HELD_BY_OTHER,  # held
                holder == HELD_BY_ME,  # held_by_me
                bool(network_note),  # out_of_network
                network_note,
            )
        )
    return options


def _network_note(
    notes: Mapping[tuple[str, int], tuple[str, ...]], loc_id: int, prov_id: int
) -> str:
    reasons = notes.get(("location", loc_id), ()) + notes.get(("provider", prov_id), ())
    return f"{'; '.join(reasons)}: {NEEDS_OVERRIDE}" if reasons else ""
