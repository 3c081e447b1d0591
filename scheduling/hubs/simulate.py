"""A discrete-event simulation of hubs taking a day of calls under the routing policy
of ``policy``: urgent first, longest-idle agent, overflow to the next hub after a wait
or past a queue length. Callers wait as long as it takes (as Erlang C assumes), so the
figures compare with its prediction."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from . import policy
from .traffic import PlannedCall


@dataclass(frozen=True)
class HubPlan:
    name: str
    agents: int
    regions: tuple[str, ...]
    overflow_to: str = ""
    overflow_after_seconds: float = 45
    overflow_queue_length: int = 8


@dataclass
class HubResult:
    offered: int = 0
    waits: list[float] = field(default_factory=list)
    urgent_waits: list[float] = field(default_factory=list)
    overflow_out: int = 0
    overflow_in_answered: int = 0

    @property
    def service_level(self) -> float:
        return policy.service_level(list(self.waits))

    @property
    def average_speed_of_answer(self) -> float:
        return sum(self.waits) / len(self.waits) if self.waits else 0.0


@dataclass
class _Waiting:
    index: int
    call: PlannedCall
    home: str
    overflow: str = ""


def simulate(
    hubs: list[HubPlan], calls: list[PlannedCall], *, overflow: bool = True
) -> dict[str, HubResult]:
    """Per hub (by name), what its own callers saw: the waits are those of the calls
    offered to the hub, wherever they were answered."""
    by_region = {r: h.name for h in hubs for r in h.regions}
    plans = {h.name: h for h in hubs}
    results = {h.name: HubResult() for h in hubs}
    # Each agent: (hub, idle since) while free; busy agents are in the event heap.
    free: dict[str, dict[int, float]] = {h.name: dict.fromkeys(range(h.agents), 0.0) for h in hubs}
    waiting: list[_Waiting] = []
    # (time, order, kind, payload): arrivals, agents freeing, overflow timers.
    events: list[tuple[float, int, str, object]] = []
    for i, call in enumerate(calls):
        heapq.heappush(events, (call.at, i, "arrive", i))
    seq = len(calls)

    def rule(hub: str) -> policy.OverflowRule:
        plan = plans[hub]
        return policy.OverflowRule(
            overflow,
            plan.overflow_after_seconds,
            plan.overflow_queue_length,
            bool(plan.overflow_to),
        )

    def answer(w: _Waiting, hub: str, now: float) -> None:
        nonlocal seq
        agent = policy.longest_idle(free[hub].items())
        assert agent is not None
        del free[hub][agent]
        results[w.home].waits.append(now - w.call.at)
        if w.call.urgent:
            results[w.home].urgent_waits.append(now - w.call.at)
        if hub != w.home:
            results[hub].overflow_in_answered += 1
        seq += 1
        heapq.heappush(events, (now + w.call.handle_seconds, seq, "free", (hub, agent)))

    def next_for(hub: str) -> _Waiting | None:
        eligible = [w for w in waiting if hub in (w.home, w.overflow)]
        return min(
            eligible,
            key=lambda w: policy.queue_order(w.call.urgent, w.call.at, w.index),
            default=None,
        )

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "arrive":
            assert isinstance(payload, int)
            call = calls[payload]
            home = by_region[call.region]
            results[home].offered += 1
            w = _Waiting(payload, call, home)
            if free[home]:
                answer(w, home, now)
                continue
            ahead = sum(1 for x in waiting if x.home == home)
            waiting.append(w)
            if policy.overflow_reason(rule(home), waited_seconds=0, queue_length=ahead):
                payload = w
                kind = "overflow"
            else:
                seq += 1
                heapq.heappush(
                    events, (now + plans[home].overflow_after_seconds, seq, "overflow", w)
                )
                continue
        if kind == "overflow":
            assert isinstance(payload, _Waiting)
            w = payload
            if w not in waiting or not overflow or not plans[w.home].overflow_to:
                continue
            w.overflow = plans[w.home].overflow_to
            results[w.home].overflow_out += 1
            if free[w.overflow] and next_for(w.overflow) is w:
                waiting.remove(w)
                answer(w, w.overflow, now)
        elif kind == "free":
            assert isinstance(payload, tuple)
            freed_hub: str = payload[0]
            free[freed_hub][payload[1]] = now
            nxt = next_for(freed_hub)
            if nxt is not None:
                waiting.remove(nxt)
                answer(nxt, freed_hub, now)
    return results
