"""A real Celery worker on Redis is SIGKILLed in the middle of applying a message: the
effect happens exactly once.

The worker is caught mid-effect on purpose: the test holds an uncommitted row on the
identifier the ADT^A04 is about to attach, so the worker has already created the
patient inside its transaction and waits on the unique index. SIGKILL then; PostgreSQL
rolls the half-done work back with the dead connection. A second worker, started as
beat's sweeper would find the message, applies it once; a late redelivery of the
original task does nothing more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from config.crypto import encrypt_text
from config.crypto.fields import blind_index_of
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from integrations.tasks import inbound_drain_task, inbound_sweep_task
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from tests import factories as f

from .conftest import database_url
from .hl7_samples import adt

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def _start_worker(queue: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_TASK_DEFAULT_QUEUE": queue}
    env.setdefault("HUB_VAR_DIR", str(settings.VAR_DIR))
    return subprocess.Popen(
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


def _wait(predicate, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _waiting_on_a_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(row and row[0])


def test_sigkill_mid_task_then_the_effect_happens_exactly_once(pms):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks to stop the worker mid-effect")
    queue = f"test-{uuid.uuid4().hex[:8]}"
    dsn = database_url()
    other = f.patient()
    (stored,) = inbound_store_batch([adt("K1", mrn="KILL1", last="Quill", dob="19770707")])
    assert stored.ack_code == "AA"

    blocker = psycopg.connect(dsn)  # holds an uncommitted insert on the same identifier
    blocker.execute(
        "INSERT INTO patients_patientidentifier (patient_id, system, kind, value, value_bidx) "
        "VALUES (%s, 'DEN-PMS', 'MR', %s, %s)",
        [other.pk, encrypt_text("KILL1"), identifier_index("KILL1")],
    )
    first = _start_worker(queue)
    try:
        inbound_drain_task.apply_async(args=[[stored.ordering_key]], queue=queue)
        _wait(lambda: _waiting_on_a_lock(dsn), "the worker to block mid-effect")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        blocker.rollback()
        blocker.close()

    assert Message.objects.get(control_id="K1").status == "received", "nothing half-applied"
    assert not Patient.objects.filter(
        last_name_bidx=blind_index_of(Patient, "last_name_bidx", "Quill")
    ).exists()

    second = _start_worker(queue)
    try:
        inbound_sweep_task.apply_async(queue=queue)
        _wait(
            lambda: Message.objects.get(control_id="K1").status == "processed",
            "the sweeper to apply the message",
        )
        # The broker may still redeliver the killed task later: it must change nothing.
        inbound_drain_task.apply_async(args=[[stored.ordering_key]], queue=queue)
        inbound_sweep_task.apply_async(queue=queue)
        time.sleep(2)
    finally:
        second.terminate()
        second.wait(20)

    assert (
        Patient.objects.filter(
            last_name_bidx=blind_index_of(Patient, "last_name_bidx", "Quill")
        ).count()
        == 1
    )
    assert (
        PatientIdentifier.objects.filter(
            system="DEN-PMS", value_bidx=identifier_index("KILL1")
        ).count()
        == 1
    )
    assert OutboxEvent.objects.filter(event_type="patient.created").count() == 1
