"""Nobody is booked into a provider's time off or a location's closure day.

The slot materializer keeps such units out of the Slot table, but a unit that was booked
before the time off was entered and freed afterwards is still a row; this rule is what
keeps it from being offered or booked, whoever asks (console, API, FHIR, waitlist).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class SlotAbsenceRule(Rule):
    key = "slot-time-off"
    kind = Kind.HARD
    scope = Scope.SLOT
    description = "The slot is not inside the provider's time off or a closure of the location."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        slot, loc, prov = cand.slot, cand.location, cand.provider
        assert slot is not None
        # Closures are whole local days; a visit that crosses midnight touches two. Most
        # locations have none in a search's window: skip the local dates then.
        if loc.closed_dates:
            first = slot.start.astimezone(_zone(loc.time_zone)).date()
            last = slot.end.astimezone(_zone(loc.time_zone)).date()
            for day in sorted(loc.closed_dates):
                if first <= day <= last:
                    return exclude(f"{loc.name} is closed on {day:%a %b} {day.day}")
        if prov is not None:
            for off_start, off_end in prov.time_off:
                if slot.start < off_end and slot.end > off_start:
                    return exclude(f"{prov.name} is on time off then")
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        # ``evaluate``'s test inline, for the dozens of starts a search judges near a
        # closure or time off: only the starts it fails go through ``evaluate`` (the one
        # place that words the reason).
        out = []
        for i, cand in enumerate(cands):
            slot, loc, prov = cand.slot, cand.location, cand.provider
            if slot is None:
                out.append(i)
                continue
            closed = loc.closed_dates
            if closed:
                tz = _zone(loc.time_zone)
                first = slot.start.astimezone(tz).date()
                last = slot.end.astimezone(tz).date()
                # Most visits start and end on one local date: a set lookup then.
                if (
                    first in closed
                    if first == last
                    else any(first <= day <= last for day in closed)
                ):
                    out.append(i)
                    continue
            if prov is not None and prov.time_off:
                start, end = slot.start, slot.end
                if any(start < off_end and end > off_start for off_start, off_end in prov.time_off):
                    out.append(i)
        return self.evaluate_at(ctx, cands, config, out)
