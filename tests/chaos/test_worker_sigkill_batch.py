"""A worker is SIGKILLed inside a set-based batch (the inbound drain): nothing of the batch
survives, and the worker that picks it up applies every effect once.

The worker is caught inside the batch's transaction on purpose: the case holds an
uncommitted row on the identifier of the batch's last ADT^A04, so the bulk insert of
identifiers waits on the unique index after every patient of the run was written.
"""

from __future__ import annotations

import signal

import psycopg
import pytest

from config.crypto import encrypt_text
from integrations.ledger import inbound_store_batch
from integrations.models import Message, OutboxEvent
from integrations.tasks import inbound_drain_task, inbound_sweep_task
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from tests import factories as f
from tests.integrations.hl7_samples import adt

from .conftest import database_url, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

TOTAL = 200


def _dob(i: int) -> str:
    """Distinct people: no two share a birth date, so the MPI never merges them."""
    return f"{1940 + i // 12 % 60}{i % 12 + 1:02d}{i % 28 + 1:02d}"


def _waiting_on_a_lock(dsn: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ).fetchone()
        return bool(row and row[0])


def test_sigkill_inside_a_batch_then_every_effect_once(processes, pms, broker):
    other = f.patient()
    stored = inbound_store_batch(
        [
            adt(f"WB{i:04d}", mrn=f"WB{i}", last=f"Batch{i}", dob=_dob(i), phone=f"303555{i:04d}")
            for i in range(TOTAL)
        ]
    )
    assert [s.ack_code for s in stored] == ["AA"] * TOTAL
    keys = [s.ordering_key for s in stored]
    dsn = database_url()
    blocker = psycopg.connect(dsn)
    blocker.execute(
        "INSERT INTO patients_patientidentifier (patient_id, system, kind, value, value_bidx) "
        "VALUES (%s, 'DEN-PMS', 'MR', %s, %s)",
        [other.pk, encrypt_text(f"WB{TOTAL - 1}"), identifier_index(f"WB{TOTAL - 1}")],
    )
    first = processes.worker()
    try:
        inbound_drain_task.apply_async(args=[keys], queue=processes.queue)
        wait_for(lambda: _waiting_on_a_lock(dsn), "the worker to block inside its batch")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        blocker.rollback()
        blocker.close()

    assert not Message.objects.filter(direction="in").exclude(status="received").exists()
    assert Patient.objects.count() == 1, "nothing of the killed batch is left"

    second = processes.worker()
    inbound_sweep_task.apply_async(queue=processes.queue)  # what beat's sweeper does
    wait_for(
        lambda: Message.objects.filter(direction="in", status="processed").count() == TOTAL,
        "the new worker to apply the batch",
    )
    # A late redelivery of the killed task changes nothing.
    inbound_drain_task.apply_async(args=[keys], queue=processes.queue)
    inbound_sweep_task.apply_async(queue=processes.queue)
    sweep = "integrations.tasks.inbound_sweep_task"
    wait_for(lambda: processes.finished(second, sweep) == 2, "the redelivery to finish")

    assert Patient.objects.count() == TOTAL + 1
    assert PatientIdentifier.objects.filter(system="DEN-PMS").count() == TOTAL
    assert OutboxEvent.objects.filter(event_type="patient.created").count() == TOTAL
    assert Message.objects.filter(direction="in", status="processed").count() == TOTAL
