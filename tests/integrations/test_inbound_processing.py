"""Worker-side processing: FIFO per patient, a transient failure holds only its patient."""

from __future__ import annotations

import pytest

from integrations import inbound
from integrations.ledger import inbound_store_batch
from integrations.models import Message
from patients.models import PatientIdentifier

from .hl7_samples import adt

pytestmark = pytest.mark.django_db


def test_a_transient_failure_holds_its_patient_and_no_one_else(pms, monkeypatch):
    real_apply = inbound._apply

    def flaky(message):
        if message.control_id == "F1":
            raise RuntimeError("database hiccup")
        return real_apply(message)

    monkeypatch.setattr(inbound, "_apply", flaky)
    stored = inbound_store_batch(
        [
            adt("F1", mrn="A"),
            adt("F2", mrn="A", event="A08", phone="3035550000"),
            adt("G1", mrn="B"),
        ]
    )

    inbound.inbound_drain_keys([s.ordering_key for s in stored])

    status = dict(Message.objects.values_list("control_id", "status"))
    assert status == {"F1": "failed", "F2": "received", "G1": "processed"}
    assert Message.objects.get(control_id="F1").next_attempt_at is not None

    monkeypatch.setattr(inbound, "_apply", real_apply)
    Message.objects.filter(control_id="F1").update(next_attempt_at=None)
    inbound.inbound_drain_keys(inbound.inbound_due_keys())

    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    patient = PatientIdentifier.objects.get(system="DEN-PMS", value="A").patient
    assert patient.phone == "3035550000", "the A08 was applied after its A04"


def test_a_message_that_fails_every_time_is_dead_lettered_and_the_queue_moves_on(pms, monkeypatch):
    real_apply = inbound._apply

    def broken(message):
        if message.control_id == "X1":
            raise RuntimeError("always")
        return real_apply(message)

    monkeypatch.setattr(inbound, "_apply", broken)
    stored = inbound_store_batch([adt("X1", mrn="C"), adt("X2", mrn="C", event="A08")])
    for _ in range(inbound.MAX_ATTEMPTS):
        Message.objects.filter(control_id="X1").update(next_attempt_at=None)
        inbound.inbound_drain_keys([stored[0].ordering_key])

    status = dict(Message.objects.values_list("control_id", "status"))
    assert status == {"X1": "dead", "X2": "processed"}
