"""Settings for several machines: Redis behind Sentinel, a read replica, shared limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from config.redis_sentinel import SentinelCachePool, sentinel_hosts
from tests.processes import ROOT

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'broker': s.CELERY_BROKER_URL, 'options': s.CELERY_BROKER_TRANSPORT_OPTIONS,"
    " 'cache': s.CACHES['default'], 'limits': s.RATE_LIMIT_STORAGE_URL,"
    " 'databases': sorted(s.DATABASES)}))"
)


def settings_with(**env: str) -> dict:
    drop = {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "RATE_LIMIT_STORAGE_URL"}
    full = {k: v for k, v in os.environ.items() if k not in drop}
    full.update(env, DJANGO_SETTINGS_MODULE="config.settings.base")
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=full, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sentinels_configure_the_broker_the_cache_and_the_rate_limits_at_once():
    seen = settings_with(
        REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26379",
        REDIS_SENTINEL_MASTER="hub",
        REDIS_PASSWORD="s3cret",
    )
    assert (
        seen["broker"] == "sentinel://:s3cret@10.0.0.1:26379/0;sentinel://:s3cret@10.0.0.2:26379/0"
    )
    assert seen["options"]["master_name"] == "hub"
    assert seen["options"]["sentinel_kwargs"] == {"password": "s3cret"}
    assert (
        seen["cache"]["LOCATION"] == "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/hub/1"
    )
    assert seen["cache"]["OPTIONS"] == {"pool_class": "config.redis_sentinel.SentinelCachePool"}
    assert seen["limits"] == "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/hub"


def test_without_sentinels_or_urls_everything_stays_embedded():
    seen = settings_with()
    assert seen["broker"] == "filesystem://"
    assert seen["limits"] == "memory://"
    assert seen["databases"] == ["default"]


def test_a_replica_url_adds_the_replica_alias():
    seen = settings_with(
        DATABASE_URL="postgresql://hub@db1:5432/hub",
        DATABASE_REPLICA_URL="postgresql://hub@db2:5432/hub",
    )
    assert seen["databases"] == ["default", "replica"]


def test_the_cache_pool_asks_the_named_sentinels_for_the_master():
    pool = SentinelCachePool.from_url("redis+sentinel://:pw@s1:26379,s2/hub/2")
    assert pool.service_name == "hub"
    assert pool.connection_kwargs["db"] == 2
    assert [
        (c.connection_pool.connection_kwargs["host"], c.connection_pool.connection_kwargs["port"])
        for c in pool.sentinel_manager.sentinels
    ] == [("s1", 26379), ("s2", 26379)]
    assert sentinel_hosts("a:1, b") == [("a", 1), ("b", 26379)]
