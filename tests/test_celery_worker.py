"""A real worker process (not eager mode) picks a task off the broker and does the work."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from scheduling.models import Slot
from scheduling.tasks import slots_materialize_task
from tests import factories as f

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def worker():
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_TASK_DEFAULT_QUEUE": queue}
    env.setdefault("HUB_VAR_DIR", str(settings.VAR_DIR))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queue,
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield queue, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_real_worker_runs_a_task_end_to_end(worker):
    queue, proc = worker
    loc = f.location()
    prov = f.provider(locations=[loc])
    tomorrow = date.today() + timedelta(days=1)
    f.template(provider=prov, location=loc, weekday=tomorrow.weekday())

    slots_materialize_task.apply_async(kwargs={"provider_ids": [prov.pk]}, queue=queue)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Slot.objects.filter(provider=prov).exists():
        assert proc.poll() is None, f"worker died: {proc.stdout.read() if proc.stdout else ''}"
        time.sleep(0.3)
    assert Slot.objects.filter(provider=prov).count() > 0
    broker = settings.CELERY_BROKER_URL.split("://", 1)[0]
    if os.environ.get("CI") == "true" and os.environ.get("DATABASE_URL"):
        assert broker == "redis", "the PostgreSQL pass must run the worker on Redis"
