"""Redis behind Sentinel for Django's cache.

Celery (kombu's ``sentinel://`` transport) and ``limits`` (``redis+sentinel://``) ask
the sentinels for the current master themselves. Django's ``RedisCache`` builds its
pool with ``pool_class.from_url(LOCATION, **OPTIONS)``; this pool reads
``redis+sentinel://[:PASSWORD@]HOST:PORT,HOST:PORT/MASTER/DB`` and asks the sentinels
which server is the master, again after a failover.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from redis.sentinel import Sentinel, SentinelConnectionPool


def sentinel_hosts(text: str) -> list[tuple[str, int]]:
    """``h1:26379,h2:26379`` -> [("h1", 26379), ("h2", 26379)]; the port defaults to 26379."""
    hosts = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "26379")
        hosts.append((host, int(port)))
    return hosts


class SentinelCachePool(SentinelConnectionPool):
    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelCachePool:
        parts = urlsplit(url)
        if parts.scheme != "redis+sentinel":
            raise ValueError("expected redis+sentinel://HOST:PORT,HOST:PORT/MASTER/DB")
        password = unquote(parts.password) if parts.password else None
        master, _, db = parts.path.strip("/").partition("/")
        sentinel = Sentinel(
            sentinel_hosts(parts.netloc.rpartition("@")[2]),
            sentinel_kwargs={"password": password} if password else None,
            socket_timeout=options.get("socket_timeout", 5),
        )
        return cls(master, sentinel, db=int(db or 0), password=password, **options)
