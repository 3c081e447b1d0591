"""The patient's own calendar: one person cannot be at two visits at once."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


class PatientOverlapRule(Rule):
    key = "patient-no-overlap"
    kind = Kind.HARD
    scope = Scope.SLOT
    description = "A start overlapping one of the patient's own active appointments is excluded."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        slot = cand.slot
        assert slot is not None
        for visit in ctx.patient.active_visits:
            # Half-open intervals: a visit ending at 11:00 does not clash with one at 11:00.
            if visit.start < slot.end and slot.start < visit.end:
                zone = _zone(visit.time_zone)
                start, end = visit.start.astimezone(zone), visit.end.astimezone(zone)
                return exclude(
                    f"the patient already has a visit at {visit.location_name} "
                    f"{start:%H:%M}\u2013{end:%H:%M} that day"
                )
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        if ctx.patient.active_visits:
            return super().evaluate_many(ctx, cands, config)
        # No visits of their own to overlap (most patients): every start passes.
        unjudgeable = [i for i, cand in enumerate(cands) if cand.slot is None]
        return self.evaluate_at(ctx, cands, config, unjudgeable)
