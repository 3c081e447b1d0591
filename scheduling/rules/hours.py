"""The slot lies inside the location's opening hours, in the location's own time zone."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class SlotWithinHoursRule(Rule):
    key = "slot-location-hours"
    kind = Kind.HARD
    scope = Scope.SLOT
    description = "The slot starts and ends inside the location's opening hours that day."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        slot, loc = cand.slot, cand.location
        assert slot is not None
        if not loc.hours:  # a location without recorded hours is not constrained by them
            return PASS
        tz = _zone(loc.time_zone)
        local_start = slot.start.astimezone(tz)
        local_end = slot.end.astimezone(tz)
        hours = loc.hours.get(local_start.weekday())
        if hours is None:
            return exclude(f"{loc.name} is closed on {local_start:%A}s")
        opens, closes = hours
        if local_end.date() != local_start.date() or not (
            opens <= local_start.time() and local_end.time() <= closes
        ):
            return exclude(
                f"{loc.name} is open {opens:%H:%M} to {closes:%H:%M} on {local_start:%A}s"
            )
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        # ``evaluate``'s test inline, for the dozens of starts a search judges: only the
        # starts it fails go through ``evaluate`` (the one place that words the reason).
        out = []
        for i, cand in enumerate(cands):
            slot, loc = cand.slot, cand.location
            if slot is None:
                out.append(i)
                continue
            if not loc.hours:
                continue
            tz = _zone(loc.time_zone)
            local_start = slot.start.astimezone(tz)
            hours = loc.hours.get(local_start.weekday())
            if hours is None:
                out.append(i)
                continue
            local_end = slot.end.astimezone(tz)
            if local_end.date() != local_start.date() or not (
                hours[0] <= local_start.time() and local_end.time() <= hours[1]
            ):
                out.append(i)
        return self.evaluate_at(ctx, cands, config, out)
