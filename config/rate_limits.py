"""One rate limiter shared by every process of the hub (``limits``, moving window).

Where processes on several machines must respect one budget (a payer's inquiries per
minute), the counts live in Redis: ``RATE_LIMIT_STORAGE_URL``, else ``CACHE_URL``. The
embedded default keeps them in the process (``memory://``), which is right for its one
worker and wrong for two: production sets one of the URLs.
"""

from __future__ import annotations

import time
from functools import cache

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@cache
def shared_limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(settings.RATE_LIMIT_STORAGE_URL))


@receiver(setting_changed)
def _forget_limiter(*, setting: str, **_: object) -> None:
    if setting == "RATE_LIMIT_STORAGE_URL":
        shared_limiter.cache_clear()


def per_window(amount: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(max(1, amount), max(1, seconds))


def limit_take(item: RateLimitItem, *identifiers: str, cost: int = 1) -> float:
    """Take ``cost`` from the shared budget: 0.0 when granted, else the seconds to wait
    before asking again (nothing is taken then). Never sleeps: the caller reschedules.

    A moving window: in any ``item``-long stretch of time at most ``item.amount`` are
    granted, whichever process asks. A cost above the whole budget can never be granted
    and raises ValueError.
    """
    if cost > item.amount:
        raise ValueError(f"cost {cost} exceeds the limit {item}")
    limiter = shared_limiter()
    if limiter.hit(item, *identifiers, cost=cost):
        return 0.0
    stats = limiter.get_window_stats(item, *identifiers)
    # reset_time is when the oldest grant leaves the window; that may free less than
    # ``cost``, in which case the caller asks again then and waits some more.
    return max(0.05, stats.reset_time - time.time())
