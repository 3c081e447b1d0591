"""The Celery broker and its transport options: kombu's filesystem transport under var/ by
default (the embedded product), Redis or Redis Sentinel when configured."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from config.settings.redis_urls import sentinel_broker_url, sentinel_transport_options


def celery_broker(broker_dir: Path, *, visibility_timeout: int) -> tuple[str, dict[str, object]]:
    url = (
        os.environ.get("CELERY_BROKER_URL", "").strip() or sentinel_broker_url() or "filesystem://"
    )
    if url == "filesystem://":
        broker_dir.mkdir(parents=True, exist_ok=True)
        return url, {
            "data_folder_in": str(broker_dir),
            "data_folder_out": str(broker_dir),
            # Without this kombu writes its exchange table to ./control in the working dir.
            "control_folder": str(broker_dir / "control"),
            "store_processed": False,
        }
    if not url.startswith(("redis://", "rediss://", "amqp://", "sentinel://")):
        raise ImproperlyConfigured(
            "CELERY_BROKER_URL is malformed: expected redis://HOST:PORT/DB (or leave it unset "
            "for the embedded filesystem broker)"
        )
    # Redis hands an unacknowledged task to another worker after ``visibility_timeout``
    # seconds, and a task with an ETA stays unacknowledged until it runs: a longer countdown
    # reaches a second worker (config.celery.HubTask then skips the copy). The product's
    # retries wait in the database (``next_attempt_at``, swept by beat), and the one Celery
    # autoretry (eligibility sends) backs off at most ``retry_backoff_max`` (600 s).
    return url, {"visibility_timeout": visibility_timeout, **sentinel_transport_options(url)}
