"""Kicking the relay after a commit: one waiting kick covers every commit before its run
starts (integrations.outbox), and no event is left for beat that a kick would have sent."""

from __future__ import annotations

import os
import uuid

import pytest
from celery import current_app
from django.core.cache import caches
from django.db import transaction
from django.test import override_settings

from integrations import outbox
from integrations.models import OutboxEvent
from integrations.outbox import APPOINTMENT_BOOKED, outbox_enqueue
from integrations.tasks import outbox_relay_task

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = os.environ.get("CELERY_BROKER_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS.startswith("redis://"), reason="needs the Redis of the PG pass"
)
RELAY = "integrations.tasks.outbox_relay_task"


@pytest.fixture
def kicks(monkeypatch, settings) -> list[str]:
    settings.INTEGRATIONS_KICK_RELAY = True
    monkeypatch.setattr(outbox, "_kick_paused_until", 0.0)
    sent: list[str] = []
    app = current_app._get_current_object()
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: sent.append(name))
    return sent


@pytest.fixture
def shared_cache():
    redis_cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS,
        "KEY_PREFIX": f"kick-test-{uuid.uuid4().hex}",
    }
    with override_settings(CACHES={"default": redis_cache}):
        yield
        del caches["default"]


def _commit_event(n: int) -> None:
    with transaction.atomic():
        outbox_enqueue(event_type=APPOINTMENT_BOOKED, aggregate_type="appointment", aggregate_id=n)


@needs_redis
def test_commits_while_a_kick_waits_send_none_and_its_run_relays_them_all(kicks, shared_cache):
    for n in range(3):
        _commit_event(n)
    assert kicks == [RELAY]

    outbox_relay_task()  # the kicked run: it reads after the three commits

    assert not OutboxEvent.objects.filter(fanned_out_at__isnull=True).exists()
    _commit_event(4)  # after the run started: nothing waits, so this one kicks
    assert kicks == [RELAY, RELAY]


@needs_redis
def test_a_run_clears_the_mark_before_it_reads(kicks, shared_cache, monkeypatch):
    _commit_event(1)
    seen = []

    def relay():
        _commit_event(2)  # committed while the run reads: needs a kick of its own
        seen.append(list(kicks))
        return {}

    monkeypatch.setattr("integrations.relay.outbox_relay", relay)
    outbox_relay_task()

    assert seen == [[RELAY, RELAY]]


@needs_redis
def test_a_kick_the_broker_refused_leaves_no_mark(kicks, shared_cache, monkeypatch):
    app = current_app._get_current_object()

    def down(name, *a, **kw):
        raise ConnectionError("broker down")

    monkeypatch.setattr(app, "send_task", down)
    _commit_event(1)
    monkeypatch.setattr(app, "send_task", lambda name, *a, **kw: kicks.append(name))
    monkeypatch.setattr(outbox, "_kick_paused_until", 0.0)  # the pause is over

    _commit_event(2)

    assert kicks == [RELAY]


def test_with_the_process_s_own_cache_every_commit_kicks(kicks):
    # The worker could not clear a mark kept in this process's memory.
    _commit_event(1)
    _commit_event(2)

    assert kicks == [RELAY, RELAY]
