"""Domain signals become outbox rows inside the domain's own transaction, and a batch
signal becomes one INSERT."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from integrations import outbox
from integrations.models import OutboxEvent
from patients import signals as patient_signals
from patients.mpi import (
    BatchItem,
    PatientRecord,
    SourceIdentifier,
    patient_merge,
    patient_upsert_batch,
    patient_upsert_from_source,
)
from patients.services import patient_register
from scheduling import services
from scheduling import signals as scheduling_signals
from scheduling.models import Appointment
from tests import factories as f
from tests.scheduling.services_world import World, book


class _LaterError(Exception):
    """Something that goes wrong after the service returned, in the same transaction."""


def _record(mrn: str, **kw) -> PatientRecord:
    return PatientRecord(
        identifiers=(SourceIdentifier(system="DEN-PMS", value=mrn),),
        first_name="Robin",
        last_name=f"Source{mrn}",
        date_of_birth=date(1970 + int(mrn[1:]), 3, 4),
        **kw,
    )


def _agents_booking(agent) -> tuple[str, int]:
    appointment = book(World(), agent)
    return outbox.APPOINTMENT_BOOKED, appointment.pk


def _front_desk_booking(agent) -> tuple[str, int]:
    world = World()
    unit = world.slots[0]
    appointment = services.appointment_record_external(
        patient=world.patient,
        provider=world.provider,
        location=world.location,
        appointment_type=world.checkup,
        start=unit.start,
        end=unit.end,
        external_id="X1",
    )
    return outbox.APPOINTMENT_BOOKED, appointment.pk


def _cancellation(agent) -> tuple[str, int]:
    appointment = book(World(), agent)
    OutboxEvent.objects.all().delete()
    services.appointment_cancel(appointment=appointment, by=agent, reason="patient_request")
    return outbox.APPOINTMENT_CANCELLED, appointment.pk


def _registration(agent) -> tuple[str, int]:
    data = {"first_name": "Ada", "last_name": "Lovelace", "date_of_birth": date(1990, 12, 10)}
    patient = patient_register(data=data, by=agent)
    return outbox.PATIENT_CREATED, patient.pk


def _source_upsert(agent) -> tuple[str, int]:
    return outbox.PATIENT_CREATED, patient_upsert_from_source(record=_record("M1")).patient.pk


def _merge(agent) -> tuple[str, int]:
    survivor, merged = f.patient(), f.patient()
    patient_merge(survivor=survivor, merged=merged)
    return outbox.PATIENT_UPDATED, survivor.pk


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "change",
    [
        _agents_booking,
        _front_desk_booking,
        _cancellation,
        _registration,
        _source_upsert,
        _merge,
    ],
    ids=lambda change: change.__name__.strip("_"),
)
def test_a_domain_change_rolled_back_later_in_its_transaction_leaves_no_outbox_row(
    agent, settings, change
):
    settings.INTEGRATIONS_KICK_RELAY = False
    with pytest.raises(_LaterError), transaction.atomic():
        event_type, aggregate_id = change(agent)
        # Written inside the transaction, not deferred to its commit...
        assert OutboxEvent.objects.filter(event_type=event_type, aggregate_id=aggregate_id).exists()
        raise _LaterError()
    # ...and not on a connection of its own: the rollback took it away.
    assert not OutboxEvent.objects.exists()


def test_every_one_row_receiver_has_its_batch_twin():
    # Otherwise the batch paths decline and every run is applied one record at a time.
    assert scheduling_signals.bulk_receivers_ready()
    assert patient_signals.bulk_receivers_ready()


def _outbox_inserts(queries) -> int:
    table = OutboxEvent._meta.db_table
    return sum(1 for q in queries if q["sql"].startswith(f'INSERT INTO "{table}"'))


@pytest.mark.django_db
def test_a_run_of_front_desk_bookings_writes_its_outbox_rows_in_one_insert(pms):
    world = World()
    items = [
        services.ExternalBooking(
            patient_id=world.patient.pk,
            provider_id=world.provider.pk,
            location_id=world.location.pk,
            appointment_type_id=world.checkup.pk,
            start=unit.start,
            end=unit.end,
            external_id=f"X{i}",
            origin_connector_id=pms.pk,
        )
        for i, unit in enumerate(world.slots[:3])
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        booked = services.appointments_record_external_batch(items)

    assert all(isinstance(a, Appointment) for a in booked)
    assert _outbox_inserts(queries) == 1
    assert list(
        OutboxEvent.objects.order_by("pk").values_list("event_type", "aggregate_id", "payload")
    ) == [(outbox.APPOINTMENT_BOOKED, a.pk, {"origin_connector_id": pms.pk}) for a in booked]


@pytest.mark.django_db
def test_a_run_of_pms_changes_writes_its_outbox_rows_in_one_insert_in_arrival_order(pms):
    world = World()
    first = f.appointment(
        patient=world.patient, slot=world.slots[0], appointment_type=world.checkup, external_id="A"
    )
    second = f.appointment(
        patient=f.patient(), slot=world.slots[2], appointment_type=world.checkup, external_id="B"
    )
    later = world.slots[4].start
    items = [
        services.ExternalChange(appointment_id=first.pk, event="modified", start=later),
        services.ExternalChange(appointment_id=second.pk, event="cancelled"),
        services.ExternalChange(
            appointment_id=first.pk, event="cancelled", origin_connector_id=pms.pk
        ),
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        services.appointments_change_external_batch(items)

    assert _outbox_inserts(queries) == 1
    assert list(
        OutboxEvent.objects.order_by("pk").values_list("event_type", "aggregate_id", "payload")
    ) == [
        (outbox.APPOINTMENT_MODIFIED, first.pk, {}),
        (outbox.APPOINTMENT_CANCELLED, second.pk, {}),
        (outbox.APPOINTMENT_CANCELLED, first.pk, {"origin_connector_id": pms.pk}),
    ]


@pytest.mark.django_db
def test_a_batch_of_patient_records_writes_its_outbox_rows_in_one_insert(pms):
    existing = patient_upsert_from_source(record=_record("M1")).patient
    OutboxEvent.objects.all().delete()
    items = [
        BatchItem(
            record=_record("M1", phone="3035550199"), location_id=None, origin_connector_id=pms.pk
        ),
        BatchItem(record=_record("M2"), location_id=pms.location_id, origin_connector_id=None),
    ]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        results = patient_upsert_batch(items)

    assert _outbox_inserts(queries) == 1
    assert list(
        OutboxEvent.objects.order_by("pk").values_list(
            "event_type", "aggregate_id", "location_id", "payload"
        )
    ) == [
        (outbox.PATIENT_UPDATED, existing.pk, None, {"origin_connector_id": pms.pk}),
        (outbox.PATIENT_CREATED, results[1].patient.pk, pms.location_id, {}),
    ]
