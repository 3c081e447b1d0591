"""Where the cache, the shared rate limits and the Celery broker find Redis.

One Redis (``CACHE_URL``, ``CELERY_BROKER_URL``, ``RATE_LIMIT_STORAGE_URL``) or Redis
behind Sentinel: ``REDIS_SENTINELS`` lists the sentinels (``host:port,host:port``),
``REDIS_SENTINEL_MASTER`` names the master they watch, ``REDIS_PASSWORD`` is the servers'
and sentinels' password, ``REDIS_CACHE_DB`` and ``REDIS_BROKER_DB`` pick the databases.
The broker (kombu's ``sentinel://``), the cache (``config.redis_sentinel``) and the rate
limits (``limits``' ``redis+sentinel://``) then each ask the sentinels for the master,
again after a failover. An explicit URL wins over the sentinels.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

SENTINEL = "redis+sentinel://"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _auth() -> str:
    return f":{os.environ['REDIS_PASSWORD']}@" if os.environ.get("REDIS_PASSWORD") else ""


def _master() -> str:
    return _env("REDIS_SENTINEL_MASTER") or "mymaster"


def cache_url() -> str:
    url = _env("CACHE_URL")
    if not url and _env("REDIS_SENTINELS"):
        db = _env("REDIS_CACHE_DB") or "1"
        url = f"{SENTINEL}{_auth()}{_env('REDIS_SENTINELS')}/{_master()}/{db}"
    if url and not url.startswith(("redis://", "rediss://", SENTINEL)):
        raise ImproperlyConfigured("CACHE_URL is malformed: expected redis://HOST:PORT/DB")
    return url


def caches(url: str) -> dict[str, dict[str, object]]:
    if not url:
        # The embedded default keeps it in the process: enough for one web process.
        return {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": "hub",
            }
        }
    options = (
        {"pool_class": "config.redis_sentinel.SentinelCachePool"}
        if url.startswith(SENTINEL)
        else {}
    )
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": options,
        }
    }


def rate_limit_storage_url(cache: str) -> str:
    # limits names a sentinel service without a database number.
    url = _env("RATE_LIMIT_STORAGE_URL") or (
        cache.rsplit("/", 1)[0] if cache.startswith(SENTINEL) else cache
    )
    url = url or "memory://"
    if not url.startswith(("memory://", "redis://", "rediss://", SENTINEL)):
        raise ImproperlyConfigured(
            "RATE_LIMIT_STORAGE_URL is malformed: expected redis://HOST:PORT/DB, "
            "redis+sentinel://HOST:PORT/SERVICE or memory://"
        )
    return url


def sentinel_broker_url() -> str:
    """kombu's failover list: one sentinel:// URL per sentinel ('' without sentinels)."""
    db = _env("REDIS_BROKER_DB") or "0"
    hosts = [h.strip() for h in _env("REDIS_SENTINELS").split(",") if h.strip()]
    return ";".join(f"sentinel://{_auth()}{host}/{db}" for host in hosts)


def sentinel_transport_options(broker_url: str) -> dict[str, object]:
    if not broker_url.startswith("sentinel://"):
        return {}
    options: dict[str, object] = {"master_name": _master()}
    if os.environ.get("REDIS_PASSWORD"):
        options["sentinel_kwargs"] = {"password": os.environ["REDIS_PASSWORD"]}
    return options
