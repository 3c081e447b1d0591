"""Worker-side processing: FIFO per patient, a transient failure holds only its patient."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from integrations import inbound, retry
from integrations.hl7v2 import adt as adt_chapter
from integrations.ledger import inbound_store_batch
from integrations.models import Message
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index

from .hl7_samples import adt

pytestmark = pytest.mark.django_db


def test_a_transient_failure_holds_its_patient_and_no_one_else(pms, monkeypatch):
    # Injected where both the bulk ADT path and the one-by-one path read the PID, so the
    # failure hits whichever path the worker takes.
    real_record = adt_chapter.patient_record

    def flaky(message, connector):
        if message.header.control_id == "F1":
            raise RuntimeError("database hiccup")
        return real_record(message, connector)

    monkeypatch.setattr(adt_chapter, "patient_record", flaky)
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

    monkeypatch.setattr(adt_chapter, "patient_record", real_record)
    Message.objects.filter(control_id="F1").update(next_attempt_at=None)
    inbound.inbound_drain_keys(inbound.inbound_due_keys())

    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    patient = PatientIdentifier.objects.get(
        system="DEN-PMS", value_bidx=identifier_index("A")
    ).patient
    assert patient.phone == "3035550000", "the A08 was applied after its A04"


def test_a_message_that_fails_every_time_is_dead_lettered_and_the_queue_moves_on(pms, monkeypatch):
    real_record = adt_chapter.patient_record

    def broken(message, connector):
        if message.header.control_id == "X1":
            raise RuntimeError("always")
        return real_record(message, connector)

    monkeypatch.setattr(adt_chapter, "patient_record", broken)
    stored = inbound_store_batch([adt("X1", mrn="C"), adt("X2", mrn="C", event="A08")])
    for _ in range(retry.max_attempts()):
        Message.objects.filter(control_id="X1").update(next_attempt_at=None)
        inbound.inbound_drain_keys([stored[0].ordering_key])

    status = dict(Message.objects.values_list("control_id", "status"))
    assert status == {"X1": "dead", "X2": "processed"}


def test_inbound_retries_follow_the_integrations_retry_settings(pms, monkeypatch, settings):
    settings.INTEGRATIONS_MAX_ATTEMPTS = 2
    settings.INTEGRATIONS_RETRY_BASE_SECONDS = 10
    settings.INTEGRATIONS_RETRY_CAP_SECONDS = 15

    def broken(message, connector):
        raise RuntimeError("always")

    monkeypatch.setattr(adt_chapter, "patient_record", broken)
    (stored,) = inbound_store_batch([adt("Y1", mrn="D")])

    before = timezone.now()
    inbound.inbound_drain_keys([stored.ordering_key])
    row = Message.objects.get(control_id="Y1")
    assert (row.status, row.attempts) == ("failed", 1)
    assert before + timedelta(seconds=10) <= row.next_attempt_at
    assert row.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    assert retry.backoff(3) == timedelta(seconds=15), "capped"

    Message.objects.filter(control_id="Y1").update(next_attempt_at=None)
    inbound.inbound_drain_keys([stored.ordering_key])
    assert Message.objects.get(control_id="Y1").status == "dead", "after the second attempt"


def _entries(patient_ids):
    from django.contrib.contenttypes.models import ContentType

    from config.models import AuditEntry as LogEntry
    from patients.models import Patient

    ct = ContentType.objects.get_for_model(Patient)
    return list(
        LogEntry.objects.filter(content_type=ct, object_id__in=patient_ids)
        .order_by("id")
        .values("action", "object_pk", "object_repr", "changes", "actor_id")
    )


def test_a_batch_of_adt_is_applied_set_based_with_every_effect_of_one_by_one(
    pms, django_assert_max_num_queries
):
    from auditlog.diff import model_instance_diff

    from integrations.models import OutboxEvent
    from patients.models import Patient
    from tests import factories as f

    known = f.patient(first_name="Dana", last_name="Known", phone="3035551111")
    PatientIdentifier.objects.create(patient=known, system="DEN-PMS", value="K1")
    twin = f.patient(
        first_name="Jo",
        last_name="Twin",
        date_of_birth=date(1971, 3, 4),
        phone="3035552222",
    )
    messages = [
        adt(
            f"N{i}",
            mrn=f"N{i}",
            last=f"New{i}",
            dob=f"{1940 + i}{1 + i % 12:02d}{1 + i % 28:02d}",
            phone=f"30355{i:05d}",
        )
        for i in range(40)
    ]
    messages += [
        adt("K1", event="A08", mrn="K1", first="Dana", last="Known", phone="3035559999"),
        adt("N0b", event="A08", mrn="N0", last="New0", dob="19400101", phone="7205550000"),
        adt("T1", mrn="T-9", first="Jo", last="Twin", dob="19710304", phone="3035552222"),
        adt("BAD", mrn="Z1", dob=""),  # a new patient without a birth date: rejected
    ]
    stored = inbound_store_batch(messages)
    keys = list(dict.fromkeys(s.ordering_key for s in stored))

    # 44 messages in a handful of statements, not ~14 each.
    with django_assert_max_num_queries(30):
        assert inbound.inbound_drain_batch(keys) == 44

    status = dict(Message.objects.values_list("control_id", "status"))
    assert status.pop("BAD") == "rejected"
    assert set(status.values()) == {"processed"}
    assert "date of birth" in Message.objects.get(control_id="BAD").last_error
    # Identifier match, FIFO within the batch (the A08 after its A04), demographic match.
    known.refresh_from_db()
    assert known.phone == "3035559999"
    n0 = PatientIdentifier.objects.get(system="DEN-PMS", value_bidx=identifier_index("N0")).patient
    assert n0.phone == "7205550000"
    assert (
        PatientIdentifier.objects.get(
            system="DEN-PMS", value_bidx=identifier_index("T-9")
        ).patient_id
        == twin.pk
    )
    assert Patient.objects.count() == 2 + 40
    # Auditlog: the entries the signals write — compare with a save() through the signal.
    created = _entries([n0.pk])
    assert [e["action"] for e in created] == [0, 1]  # create, then the A08's update
    fresh = Patient.objects.get(pk=n0.pk)
    assert created[0]["object_repr"] == f"Patient #{fresh.pk}"  # an id, never the name
    assert set(created[0]["changes"]) == set(model_instance_diff(None, fresh))
    assert created[1]["changes"] == {"phone": ["3035500000", "7205550000"]}
    known.phone = "3035558888"
    known.save(update_fields=["phone", "updated_at"])
    by_signal, by_bulk = _entries([known.pk])[-1], _entries([known.pk])[-2]
    assert by_bulk["changes"]["phone"] == ["3035551111", "3035559999"]
    assert "updated_at" not in by_bulk["changes"]
    assert {k: v for k, v in by_bulk.items() if k != "changes"} == {
        k: v for k, v in by_signal.items() if k != "changes"
    }
    assert PatientIdentifier.objects.filter(system="DEN-PMS").count() == 42
    # Outbox: one event per change, marked with the sender so it is not echoed back.
    events = list(OutboxEvent.objects.values_list("event_type", "aggregate_id", "payload"))
    assert len([e for e in events if e[0] == "patient.created"]) == 40
    assert ("patient.updated", known.pk, {"origin_connector_id": pms.pk}) in events
    assert ("patient.updated", n0.pk, {"origin_connector_id": pms.pk}) in events

    # Idempotent: the same batch again (a resend with new control ids) changes nothing.
    before = (Patient.objects.count(), OutboxEvent.objects.count())
    inbound_store_batch([m.replace("|N1|", "|R1|") for m in messages[1:2]])
    inbound.inbound_drain_keys(keys)
    assert (Patient.objects.count(), OutboxEvent.objects.count()) == before


def test_a_bulk_run_that_meets_a_concurrent_change_is_applied_one_by_one(pms, monkeypatch):
    from patients import mpi

    calls = []
    real = mpi.patient_upsert_batch

    def stale(items):
        calls.append(len(items))
        raise mpi.StaleBatch("changed")

    monkeypatch.setattr(mpi, "patient_upsert_batch", stale)
    stored = inbound_store_batch(
        [adt("S1", mrn="S"), adt("S2", mrn="S", event="A08", phone="3035550001")]
    )
    inbound.inbound_drain_batch([stored[0].ordering_key])
    monkeypatch.setattr(mpi, "patient_upsert_batch", real)

    assert calls == [2]
    assert set(Message.objects.values_list("status", flat=True)) == {"processed"}
    assert (
        PatientIdentifier.objects.get(value_bidx=identifier_index("S")).patient.phone
        == "3035550001"
    )


def test_the_bulk_path_records_the_actor_auditlog_would_and_only_while_it_is_set(
    pms, django_user_model, django_assert_max_num_queries
):
    from auditlog.context import set_actor

    from config.models import AuditEntry as LogEntry

    user = django_user_model.objects.create_user(username="replayer")
    stored = inbound_store_batch([adt("AC1", mrn="AC1", last="Actor", dob="19700101")])
    with set_actor(user), django_assert_max_num_queries(30):
        inbound.inbound_drain_batch([stored[0].ordering_key])
    # auditlog leaves its context variable set after the block, with the receiver gone.
    stored = inbound_store_batch([adt("AC2", mrn="AC2", last="Later", dob="19700202")])
    with django_assert_max_num_queries(30):
        inbound.inbound_drain_batch([stored[0].ordering_key])

    names = dict(Patient.objects.values_list("pk", "last_name"))
    actors = {
        names[e.object_id]: e.actor_id
        for e in LogEntry.objects.filter(content_type__model="patient")
    }
    assert actors == {"Actor": user.pk, "Later": None}
