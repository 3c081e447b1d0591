"""Counting events per key in the shared cache, for sign-in throttles and token rates.

A window opens at a key's first event and lasts ``window`` seconds (not aligned to the
clock, so a burst across a boundary does not get two budgets). ``add`` then ``incr`` is
atomic in Redis and under LocMemCache's lock, so concurrent events in many processes
are all counted.
"""

from __future__ import annotations

import time

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache


def _left(key: str, window: int, now: float) -> int:
    opened = cache.get(f"{key}:opened", now)
    return max(1, int(opened + window - now + 0.999))


def _hit_redis(backend: RedisCache, key: str, window: int, now: float) -> tuple[int, int]:
    """``hit`` in one round trip (MULTI/EXEC) instead of five: the same commands the cache
    API sends (SET NX EX twice, INCR, GET), the keys and values made as it makes them.
    Every API request counts one event, so the round trips were a visible part of its CPU.
    """
    opened_key = backend.make_and_validate_key(f"{key}:opened")
    count_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(count_key, write=True)
    serializer = backend._cache._serializer  # type: ignore[attr-defined]  # set in __init__
    pipe = client.pipeline(transaction=True)
    pipe.set(opened_key, serializer.dumps(now), ex=window, nx=True)
    pipe.set(count_key, serializer.dumps(0), ex=window, nx=True)
    pipe.incr(count_key)
    pipe.get(opened_key)
    _, _, count, opened = pipe.execute()
    started = now if opened is None else serializer.loads(opened)
    return int(count), max(1, int(started + window - now + 0.999))


def hit(key: str, window: int) -> tuple[int, int]:
    """Counts one event; returns (events in the current window, seconds it has left)."""
    now = time.time()
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, RedisCache):
        return _hit_redis(backend, key, window, now)
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
