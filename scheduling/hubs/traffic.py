"""A day of calls per region: Poisson arrivals at a configurable rate and exponential
handle times (the assumptions Erlang C makes), reproducible from a seed. The sandbox
telephony simulator plays these as platform events; the queue simulation runs them
through the routing policy."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RegionTraffic:
    calls_per_hour: float
    handle_seconds: float
    urgent_share: float = 0.0


@dataclass(frozen=True)
class PlannedCall:
    """One call: seconds after the day opens, its region, how long an agent spends on
    it (talk and wrap-up), and whether it came in on an urgent line."""

    at: float
    region: str
    handle_seconds: float
    urgent: bool


def day_of_calls(
    regions: dict[str, RegionTraffic], *, hours: float = 10.0, seed: int = 0
) -> list[PlannedCall]:
    """The day's calls in arrival order."""
    # Simulated traffic, not a secret: a seeded generator makes a day reproducible.
    rng = random.Random(seed)  # noqa: S311
    calls = []
    for name in sorted(regions):
        traffic = regions[name]
        rate = traffic.calls_per_hour / 3600
        t = rng.expovariate(rate)
        while t < hours * 3600:
            handle = rng.expovariate(1 / traffic.handle_seconds)
            calls.append(PlannedCall(t, name, handle, rng.random() < traffic.urgent_share))
            t += rng.expovariate(rate)
    calls.sort(key=lambda c: c.at)
    return calls
