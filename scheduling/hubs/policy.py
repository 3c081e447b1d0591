"""The routing policy as pure functions: the database services and the simulation
apply the same rules, so what the simulation measures is what production does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

SERVICE_LEVEL_SECONDS = 30

T = TypeVar("T")


@dataclass(frozen=True)
class OverflowRule:
    enabled: bool
    after_seconds: float
    queue_length: int
    has_target: bool


def overflow_reason(rule: OverflowRule, *, waited_seconds: float, queue_length: int) -> str:
    """Why a waiting call should overflow now, or "" when it should stay.

    ``queue_length`` counts the calls ahead of this one in its home hub."""
    if not (rule.enabled and rule.has_target):
        return ""
    if waited_seconds >= rule.after_seconds:
        return f"waited {waited_seconds:.0f} s, over the {rule.after_seconds:.0f} s limit"
    if queue_length >= rule.queue_length:
        return f"{queue_length} calls ahead, at the {rule.queue_length}-call threshold"
    return ""


def callback_offer_due(*, waited_seconds: float, offer_after_seconds: float) -> bool:
    return waited_seconds >= offer_after_seconds


def queue_order(urgent: bool, offered_at: datetime | float, tiebreak: int) -> tuple:
    """Sort key of the queue: urgent lines first, then the longest waiting."""
    return (not urgent, offered_at, tiebreak)


def longest_idle(agents: Iterable[tuple[T, datetime | float]]) -> T | None:
    """The available agent idle the longest: (agent, idle since) pairs."""
    best = min(agents, key=lambda pair: pair[1], default=None)
    return best[0] if best is not None else None


def service_level(
    waits: Sequence[float | None], *, threshold: float = SERVICE_LEVEL_SECONDS
) -> float:
    """Share of offered calls answered within ``threshold`` seconds; ``None`` is a call
    never answered (abandoned or left for a callback), which counts against it."""
    if not waits:
        return 0.0
    return sum(1 for w in waits if w is not None and w <= threshold) / len(waits)
