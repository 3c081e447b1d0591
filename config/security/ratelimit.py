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
from redis.commands.core import Script


def _left(key: str, window: int, now: float) -> int:
    opened = cache.get(f"{key}:opened", now)
    return max(1, int(opened + window - now + 0.999))


# ``hit``'s commands as one script: atomic like a MULTI/EXEC, and one command for the client
# to pack and parse instead of six (MULTI, the four, EXEC). Every API request counts one
# event, so the client's share of that round trip was a visible part of its CPU.
_HIT_SCRIPT = Script(
    None,
    b"""
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3], 'NX')
    redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3], 'NX')
    return {redis.call('INCR', KEYS[2]), redis.call('GET', KEYS[1])}
    """,
)


def _hit_redis(backend: RedisCache, key: str, window: int, now: float) -> tuple[int, int]:
    """``hit`` in one round trip instead of five: the same commands the cache API sends
    (SET NX EX twice, INCR, GET), the keys and values made as it makes them."""
    opened_key = backend.make_and_validate_key(f"{key}:opened")
    count_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(count_key, write=True)
    serializer = backend._cache._serializer  # type: ignore[attr-defined]  # set in __init__
    count, opened = _HIT_SCRIPT(
        keys=[opened_key, count_key],
        args=[serializer.dumps(now), serializer.dumps(0), window],
        client=client,
    )
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
