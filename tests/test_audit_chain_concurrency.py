"""Many writers append to the audit chain at once and it does not fork.

Real threads with their own connections, released together. Each commit is followed by
a seal; on PostgreSQL the chain's advisory lock serialises the sealers (a seal that finds
it taken leaves its entries to the next), on SQLite every transaction queues on BEGIN
IMMEDIATE.
Each thread mixes the three insert paths: a single save (auditlog's receiver), a bulk
ACCESS insert, and the executemany batch writer.
"""

from __future__ import annotations

import threading

import pytest
from auditlog.context import set_actor
from django.db import connection, transaction

from config.audit import audit_access, audit_updates
from config.audit_chain import audit_seal, chain_verify
from config.models import AuditEntry
from patients.models import Patient
from tests import factories as f

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
ROUNDS = 5


def test_concurrent_writers_leave_one_unbroken_chain(agent):
    patients = [f.patient() for _ in range(THREADS)]
    before = AuditEntry.objects.count()
    barrier = threading.Barrier(THREADS)
    errors: list[str] = []

    def write(i: int) -> None:
        patient = Patient.objects.get(pk=patients[i].pk)
        try:
            barrier.wait()
            for round_ in range(ROUNDS):
                with transaction.atomic(), set_actor(agent):
                    patient.city = f"Town {i}-{round_}"
                    patient.save()
                    audit_access(actor=agent, instances=patients[:3])
                    audit_updates(Patient, [(patient.pk, "", {"state": ("", f"S{round_}")})])
        except Exception as exc:  # the assertion below shows it
            errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    # A commit's own seal gives way when another holds the chain; the next seal (here,
    # as the minute beat task would) links what is left.
    audit_seal()
    written = AuditEntry.objects.count() - before
    assert written == THREADS * ROUNDS * (1 + 3 + 1)
    report = chain_verify()
    assert report.intact, report.problem
    assert report.head_seq == AuditEntry.objects.count()
    assert AuditEntry.objects.filter(link__isnull=True).count() == 0
