"""Per-patient FIFO across two MLLP listener processes and four Celery worker processes.

One sender spreads its connections over two listeners sharing a port (SO_REUSEPORT);
each patient's consecutive messages go out on different connections, so they land on
different listeners, and every listener hands keys to whichever of four workers is free.
A trigger records every change of a patient's last name, with the worker that made it,
in the order the changes were applied: each patient must have seen exactly its own
sequence of names, once each, in the order sent.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter, defaultdict

import pytest
from django.db import connection

from config.crypto import decrypt_text
from integrations.models import Message
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from tests.processes import celery_workers, mllp_listeners, multiprocess_stack_missing

from .hl7_samples import adt

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

NAMES = ["Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir"]
PATIENTS = 16
SENDERS = 4
CONNECTIONS_PER_SENDER = 4

EFFECTS_DDL = """
CREATE TABLE scale_effect (
    seq bigserial PRIMARY KEY,
    patient_id bigint NOT NULL,
    last_name text NOT NULL,
    applied_by text NOT NULL DEFAULT current_setting('application_name')
);
CREATE FUNCTION scale_effect_record() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.last_name IS DISTINCT FROM OLD.last_name THEN
        INSERT INTO scale_effect (patient_id, last_name) VALUES (NEW.id, NEW.last_name);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER scale_effect_record AFTER INSERT OR UPDATE ON patients_patient
    FOR EACH ROW EXECUTE FUNCTION scale_effect_record();
"""
EFFECTS_DROP = """
DROP TRIGGER IF EXISTS scale_effect_record ON patients_patient;
DROP FUNCTION IF EXISTS scale_effect_record();
DROP TABLE IF EXISTS scale_effect;
"""


@pytest.fixture
def effects_log():
    missing = multiprocess_stack_missing()
    if missing:
        pytest.skip(missing)
    with connection.cursor() as cursor:
        cursor.execute(EFFECTS_DROP)
        cursor.execute(EFFECTS_DDL)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(EFFECTS_DROP)


def _message(patient: int, step: int) -> str:
    return adt(
        f"F{patient}-{step}",
        event="A04" if step == 0 else "A08",
        mrn=f"FIFO{patient:03d}",
        last=NAMES[step],
        first="Quinn",
        dob=f"{1950 + patient}0615",  # one birth year each: no two are the same person
    )


def _send(port: int, patients: list[int], errors: list[str]) -> None:
    """One sender thread: MLLP send-and-wait, rotating over its connections, so a
    patient's next message leaves on another connection than its last one."""
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNECTIONS_PER_SENDER)]
    turn = 0
    try:
        for step in range(len(NAMES)):
            for patient in patients:
                sock = socks[turn % len(socks)]
                turn += 1
                sock.sendall(b"\x0b" + _message(patient, step).encode() + b"\x1c\r")
                data = b""
                while b"\x1c\r" not in data:
                    chunk = sock.recv(4096)
                    if not chunk:
                        errors.append("connection closed before the ACK")
                        return
                    data += chunk
                if b"MSA|AA" not in data:
                    errors.append(data.decode(errors="replace")[:200])
    finally:
        for sock in socks:
            sock.close()


def test_each_patients_messages_apply_in_order_across_two_listeners_and_four_workers(
    pms, effects_log
):
    total = PATIENTS * len(NAMES)
    with celery_workers(4) as fleet, mllp_listeners(2, queue=fleet.queue) as listeners:
        errors: list[str] = []
        threads = [
            threading.Thread(
                target=_send, args=(listeners.port, list(range(s, PATIENTS, SENDERS)), errors)
            )
            for s in range(SENDERS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        deadline = time.monotonic() + 120
        while Message.objects.filter(status=Message.Status.PROCESSED).count() < total:
            fleet.alive()
            assert time.monotonic() < deadline, Counter(Message.objects.values_list("status"))
            time.sleep(0.3)
        frames = [int(out.rsplit("stopped after ", 1)[1].split()[0]) for out in listeners.stop()]

    assert sum(frames) == total
    assert all(n > 0 for n in frames), f"SO_REUSEPORT gave one listener everything: {frames}"
    assert Counter(Message.objects.values_list("status", flat=True)) == {"processed": total}

    # Final state: one patient per MRN, carrying the last name sent last.
    assert Patient.objects.count() == PATIENTS
    for patient in range(PATIENTS):
        ident = PatientIdentifier.objects.get(value_bidx=identifier_index(f"FIFO{patient:03d}"))
        assert ident.patient.last_name == NAMES[-1]

    # Order of applied effects: each patient went through every name once, in order.
    with connection.cursor() as cursor:
        cursor.execute("SELECT patient_id, last_name, applied_by FROM scale_effect ORDER BY seq")
        rows = cursor.fetchall()
    seen: dict[int, list[int]] = defaultdict(list)
    for patient_id, cipher, _ in rows:
        seen[patient_id].append(NAMES.index(decrypt_text(cipher)))
    assert len(seen) == PATIENTS
    for steps in seen.values():
        # One worker's batch applies a patient's run of messages as one change (the A04
        # and the A08s behind it create the patient with the latest name), so a step may
        # not show on its own; but no step is ever applied after a later one.
        assert steps[-1] == len(NAMES) - 1, steps
        assert steps == sorted(set(steps)), steps
    applied_by = Counter(by for _, _, by in rows)
    assert set(applied_by) <= {f"worker-{i}" for i in range(4)}
    assert len(applied_by) >= 2, f"one worker did everything: {applied_by}"
    print(
        f"\nframes per listener {frames}; effects per worker {dict(applied_by)}; "
        f"{len(rows)} effects for {total} messages"
    )
