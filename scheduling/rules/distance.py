"""Distance from the patient's home ZIP: closer ranks higher; a maximum excludes.

The limit is the agent's "max distance" filter when given, else the ``max_miles``
parameter (off by default). Points fall smoothly from the full weight at 0 miles, to
half at ``scale_miles``, and keep falling without reaching zero: a straight line cut
off at the scale scored a location 59 miles away the same as one 550 miles away, so a
network-wide search ranked the far region's slots level with the near one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from scheduling.geo import miles_between

from .base import (
    PASS,
    Candidate,
    Kind,
    ParamSpec,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    Verdict,
    exclude,
    score,
)


def distance_miles(ctx: RuleContext, cand: Candidate) -> float | None:
    p, loc = ctx.patient, cand.location
    lat, lon, to_lat, to_lon = p.home_lat, p.home_lon, loc.latitude, loc.longitude
    # "is None" each: "None in (…)" compared None with every float by equality first.
    if lat is None or lon is None or to_lat is None or to_lon is None:
        return None
    return _miles(lat, lon, to_lat, to_lon)


def _has_home(ctx: RuleContext) -> bool:
    return ctx.patient.home_lat is not None and ctx.patient.home_lon is not None


# A search asks for each location's distance up to three times (the limit, the points,
# the option shown); the trigonometry is the larger part of judging a location.
_miles = lru_cache(maxsize=4096)(miles_between)


class MaxDistanceRule(Rule):
    key = "max-distance"
    kind = Kind.HARD
    scope = Scope.LOCATION
    description = "Locations farther from the patient's home than the limit are excluded."
    param_specs = (
        ParamSpec("max_miles", float, None, min=1, max=1000, nullable=True, help="null: no limit"),
    )

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        # No limit, or no home to measure from: every location passes.
        limit = ctx.prefs.max_distance_miles or config.param("max_miles", None)
        return limit is not None and _has_home(ctx)

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        limit = ctx.prefs.max_distance_miles or config.param("max_miles", None)
        miles = distance_miles(ctx, cand)
        if limit is None or miles is None or miles <= float(limit):
            return PASS
        return _too_far(cand.location.name, miles, float(limit))

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        limit = ctx.prefs.max_distance_miles or config.param("max_miles", None)
        lat, lon = ctx.patient.home_lat, ctx.patient.home_lon
        if limit is None or lat is None or lon is None:
            return []
        most = float(limit)
        out = []
        for i, cand in enumerate(cands):
            loc = cand.location
            if loc.latitude is not None and loc.longitude is not None:
                miles = _miles(lat, lon, loc.latitude, loc.longitude)
                if miles > most:
                    out.append((i, _too_far(loc.name, miles, most)))
        return out


def _too_far(name: str, miles: float, limit: float) -> Verdict:
    return exclude(f"{name} is {miles:.0f} miles from the patient's home ZIP (limit {limit:.0f})")


class DistanceRule(Rule):
    key = "distance-from-home"
    kind = Kind.SOFT
    scope = Scope.LOCATION
    description = "Closer to the patient's home ZIP ranks higher."
    default_weight = 3.0
    param_specs = (
        ParamSpec("scale_miles", float, 50, min=1, max=1000, help="miles at which it scores half"),
    )

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        return _has_home(ctx)

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        miles = distance_miles(ctx, cand)
        if miles is None:
            return PASS
        scale = float(config.param("scale_miles", 50)) or 50.0
        return _closeness(config.weight, miles, scale)

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        lat, lon = ctx.patient.home_lat, ctx.patient.home_lon
        if lat is None or lon is None:
            return []
        weight, scale = config.weight, float(config.param("scale_miles", 50)) or 50.0
        out = []
        for i, cand in enumerate(cands):
            loc = cand.location
            if loc.latitude is not None and loc.longitude is not None:
                verdict = _closeness(weight, _miles(lat, lon, loc.latitude, loc.longitude), scale)
                if verdict.points:
                    out.append((i, verdict))
        return out


def _closeness(weight: float, miles: float, scale: float) -> Verdict:
    return score(weight * distance_factor(miles, scale), f"{miles:.0f} mi from home")


def distance_factor(miles: float, scale_miles: float) -> float:
    """1 at home, 1/2 at ``scale_miles``, strictly falling at every distance after."""
    return scale_miles / (scale_miles + max(0.0, miles))
