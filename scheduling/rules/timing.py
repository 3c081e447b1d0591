"""Timing: the patient's preferred time of day, and the earliest date first."""

from __future__ import annotations

import zoneinfo
from collections.abc import Sequence
from functools import lru_cache

from .base import (
    PASS,
    Candidate,
    Kind,
    ParamSpec,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    Start,
    Verdict,
    score,
)

# Local-time boundaries (hours) matching Waitlist.TimeOfDay.
TIME_OF_DAY_HOURS = {"morning": (0, 12), "afternoon": (12, 17), "evening": (17, 24)}


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def in_time_of_day(hour: int, time_of_day: str) -> bool:
    bounds = TIME_OF_DAY_HOURS.get(time_of_day)
    return bounds is None or bounds[0] <= hour < bounds[1]


class PreferredTimeRule(Rule):
    key = "preferred-time"
    kind = Kind.SOFT
    scope = Scope.SLOT
    description = "Slots in the patient's preferred time of day rank higher."
    default_weight = 1.0

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        if not _in_preferred(ctx, cand):
            return PASS
        return score(config.weight, f"in the preferred {ctx.prefs.preferred_time_of_day}")

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        if any(cand.slot is None for cand in cands):
            return super().evaluate_many(ctx, cands, config)
        wanted = ctx.prefs.preferred_time_of_day
        hours = TIME_OF_DAY_HOURS.get(wanted)
        if hours is None:
            return []  # no preferred time of day: evaluate passes every start
        # evaluate's verdict, the same for every start in the preferred time: made once.
        verdict = score(config.weight, f"in the preferred {wanted}")
        if not verdict.points:
            return []
        out = []
        for i, cand in enumerate(cands):
            assert cand.slot is not None  # every one has a slot (above)
            local = cand.slot.start.astimezone(_zone(cand.location.time_zone))
            if hours[0] <= local.hour < hours[1]:
                out.append((i, verdict))
        return out

    def points(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> float:
        return round(config.weight, 3) if _in_preferred(ctx, cand) else 0.0

    def max_start_points(self, ctx: RuleContext, config: RuleConfig) -> float:
        if ctx.prefs.preferred_time_of_day not in TIME_OF_DAY_HOURS:
            return 0.0
        return max(0.0, round(config.weight, 3))

    def start_points(
        self, ctx: RuleContext, starts: Sequence[Start], config: RuleConfig
    ) -> list[float]:
        hours = TIME_OF_DAY_HOURS.get(ctx.prefs.preferred_time_of_day)
        if hours is None:
            return [0.0] * len(starts)
        points = round(config.weight, 3)
        return [
            points
            if hours[0] <= at.astimezone(_zone(cand.location.time_zone)).hour < hours[1]
            else 0.0
            for cand, _, at in starts
        ]


def _in_preferred(ctx: RuleContext, cand: Candidate) -> bool:
    assert cand.slot is not None
    wanted = ctx.prefs.preferred_time_of_day
    if wanted not in TIME_OF_DAY_HOURS:
        return False
    local = cand.slot.start.astimezone(_zone(cand.location.time_zone))
    return in_time_of_day(local.hour, wanted)


class EarliestDateRule(Rule):
    key = "earliest-date"
    kind = Kind.SOFT
    scope = Scope.SLOT
    description = "Sooner slots rank higher, fading to nothing over horizon_days."
    default_weight = 3.0
    param_specs = (
        ParamSpec("horizon_days", int, 30, min=1, max=365, help="days until a slot scores 0"),
    )

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        points, days = _fade(ctx, cand, config)
        return score(points, f"in {days:.0f} days")

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        starts = [cand.slot.start for cand in cands if cand.slot is not None]
        if len(starts) < len(cands):
            return super().evaluate_many(ctx, cands, config)
        weight, now = config.weight, ctx.now
        horizon = float(config.param("horizon_days", 30)) or 30.0
        out = []
        for i, start in enumerate(starts):
            # _fade's arithmetic, the settings read once for all the starts, its
            # max(0.0, x) as conditionals; ``score``'s verdict, its note worded only for
            # a start with points (the others pass).
            days = (start - now).total_seconds() / 86400
            days = days if days > 0.0 else 0.0
            share = 1 - days / horizon
            points = round(weight * (share if share > 0.0 else 0.0), 3)
            if points:
                out.append((i, Verdict(False, "", points, f"in {days:.0f} days")))
        return out

    def points(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> float:
        return round(_fade(ctx, cand, config)[0], 3)

    def max_start_points(self, ctx: RuleContext, config: RuleConfig) -> float:
        # The share is at most 1 (a start now or in the past), and 0 at the horizon.
        return max(0.0, round(config.weight, 3))

    def start_points(
        self, ctx: RuleContext, starts: Sequence[Start], config: RuleConfig
    ) -> list[float]:
        weight, now = config.weight, ctx.now
        horizon = float(config.param("horizon_days", 30)) or 30.0
        # _fade's arithmetic written out (a call per start was a third of the ranking),
        # its max(0.0, x) as conditionals: the same values without a builtin call each.
        points = []
        for _, _, at in starts:
            days = (at - now).total_seconds() / 86400
            share = 1 - (days if days > 0.0 else 0.0) / horizon
            points.append(round(weight * (share if share > 0.0 else 0.0), 3))
        return points


def _fade(ctx: RuleContext, cand: Candidate, config: RuleConfig) -> tuple[float, float]:
    """(points before rounding, days from now to the start)."""
    assert cand.slot is not None
    horizon = float(config.param("horizon_days", 30)) or 30.0
    days = max(0.0, (cand.slot.start - ctx.now).total_seconds() / 86400)
    return config.weight * max(0.0, 1 - days / horizon), days
