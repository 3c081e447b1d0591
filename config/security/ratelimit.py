"""Counting events per key in the shared cache, for sign-in throttles and token rates.

A window opens at a key's first event and lasts ``window`` seconds (not aligned to the
clock, so a burst across a boundary does not get two budgets). ``add`` then ``incr`` is
atomic in Redis and under LocMemCache's lock, so concurrent events in many processes
are all counted.
"""

from __future__ import annotations

import time

from django.core.cache import cache


def _left(key: str, window: int, now: float) -> int:
    opened = cache.get(f"{key}:opened", now)
    return max(1, int(opened + window - now + 0.999))


def hit(key: str, window: int) -> tuple[int, int]:
    """Counts one event; returns (events in the current window, seconds it has left)."""
    now = time.time()
    cache.add(f"{key}:opened", now, timeout=window)
    cache.add(key, 0, timeout=window)
    try:
        count = cache.incr(key)
    except ValueError:  # the window closed between add and incr: this event opens one
        cache.set(f"{key}:opened", now, timeout=window)
        cache.set(key, 1, timeout=window)
        count = 1
    return count, _left(key, window, now)


def peek(key: str, window: int) -> tuple[int, int]:
    """(events in the current window, seconds it has left) without counting one."""
    now = time.time()
    return int(cache.get(key, 0)), _left(key, window, now)
