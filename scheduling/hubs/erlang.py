"""Erlang C (M/M/N): the probability of waiting and the average speed of answer for a
team of N agents taking Poisson arrivals with exponential handle times. The textbook
formulas, e.g. Gans, Koole and Mandelbaum, "Telephone call centers", MSOM 5(2), 2003."""

from __future__ import annotations

import math


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability, by the stable recurrence B(n) = A·B(n-1) / (n + A·B(n-1))."""
    b = 1.0
    for n in range(1, agents + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a call waits; 1.0 when the offered load reaches the staffing."""
    if agents <= 0 or traffic >= agents:
        return 1.0
    b = erlang_b(agents, traffic)
    rho = traffic / agents
    return b / (1 - rho * (1 - b))


def average_speed_of_answer(*, calls_per_hour: float, handle_seconds: float, agents: int) -> float:
    """Expected wait in seconds, over all calls (those answered at once count as 0)."""
    traffic = calls_per_hour * handle_seconds / 3600
    if traffic >= agents:
        return math.inf
    return erlang_c(agents, traffic) * handle_seconds / (agents - traffic)


def service_level(
    *, calls_per_hour: float, handle_seconds: float, agents: int, within_seconds: float
) -> float:
    """Share of calls answered within ``within_seconds``."""
    traffic = calls_per_hour * handle_seconds / 3600
    if traffic >= agents:
        return 0.0
    pw = erlang_c(agents, traffic)
    return 1 - pw * math.exp(-(agents - traffic) * within_seconds / handle_seconds)
