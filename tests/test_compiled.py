"""A compiled read or update gives what its queryset gives, on every database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.models import Exists, OuterRef
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from config.api import CompiledPrimaryKeyField
from config.compiled import (
    Compiled,
    CompiledByLength,
    CompiledPer,
    CompiledUpdate,
    stand_in_id,
    stand_in_moment,
)
from patients.models import Patient
from scheduling.models import Hold, Slot
from tests import factories as f

pytestmark = pytest.mark.django_db

UNITS = Compiled(
    lambda provider_id, start: (
        Slot.objects.select_related("location", "provider")
        .filter(provider_id=provider_id, start__gte=start)
        .annotate(held=Exists(Hold.objects.filter(slot_id=OuterRef("pk"))))
        .order_by("start")
    ),
    provider_id=stand_in_id(),
    start=stand_in_moment(),
)
STARTS = Compiled(
    lambda provider_id: (
        Slot.objects.filter(provider_id=provider_id).order_by("start").values_list("pk", "start")
    ),
    provider_id=stand_in_id(),
)
PATIENT = Compiled(lambda pk: Patient.objects.filter(pk=pk), pk=stand_in_id())
BY_IDS = CompiledByLength(
    lambda slot_ids: (
        Slot.objects.filter(pk__in=slot_ids).order_by("pk").values_list("pk", flat=True)
    ),
    "slot_ids",
)
MARK = CompiledByLength(
    lambda slot_ids, status: (Slot.objects.filter(pk__in=slot_ids), {"status": status}),
    "slot_ids",
    kind=CompiledUpdate,
    status="stand-in status",
)
LOCKED = Compiled(lambda pk: Slot.objects.select_for_update().filter(pk=pk), pk=stand_in_id())


@pytest.fixture
def grid():
    location = f.location()
    provider = f.provider(locations=[location])
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    slots = [
        f.slot(provider=provider, location=location, start=start + timedelta(minutes=30 * i))
        for i in range(4)
    ]
    return provider, slots


def test_it_returns_the_querysets_instances_with_related_rows_and_annotations(grid, agent):
    provider, slots = grid
    Hold.objects.create(
        slot=slots[2],
        held_by=agent,
        created_at=timezone.now(),
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    for _ in range(2):  # compiled on the first call, reused on the second
        got = UNITS.rows(provider_id=provider.pk, start=slots[1].start)
        assert [(s.pk, s.start, s.status, s.held) for s in got] == [
            (s.pk, s.start, s.status, s.pk == slots[2].pk) for s in slots[1:]
        ]
        assert got[0].provider == provider and got[0].location.name == slots[0].location.name
    with CaptureQueriesContext(connection) as queries:
        assert got[0].provider.pk and got[0].location.pk  # read with the slot
    assert not queries.captured_queries


def test_it_returns_values_lists_and_decrypted_fields_as_the_queryset_does(grid):
    provider, slots = grid
    assert STARTS.rows(provider_id=provider.pk) == [(s.pk, s.start) for s in slots]
    patient = f.patient(first_name="Ana", phone="3035550101")
    got = PATIENT.first(pk=patient.pk)
    assert (got.first_name, got.phone) == ("Ana", "3035550101")
    assert PATIENT.first(pk=-1) is None


def test_a_list_parameter_is_compiled_once_per_length(grid):
    _, slots = grid
    ids = [s.pk for s in slots]
    assert BY_IDS.rows(slot_ids=ids[:1]) == ids[:1]
    assert BY_IDS.rows(slot_ids=ids[1:3]) == ids[1:3]
    assert BY_IDS.rows(slot_ids=list(reversed(ids))) == ids


def test_an_update_changes_the_rows_and_counts_them(grid):
    _, slots = grid
    assert MARK.run(slot_ids=[slots[0].pk, slots[3].pk], status=Slot.Status.BLOCKED) == 2
    assert MARK.run(slot_ids=[-1], status=Slot.Status.BLOCKED) == 0
    assert list(Slot.objects.order_by("start").values_list("status", flat=True)) == [
        Slot.Status.BLOCKED,
        Slot.Status.FREE,
        Slot.Status.FREE,
        Slot.Status.BLOCKED,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_locking_read_needs_a_transaction(grid):
    _, slots = grid
    with transaction.atomic():
        assert LOCKED.rows(pk=slots[0].pk) == [slots[0]]
    if not connection.features.has_select_for_update:
        return  # SQLite: the queryset ignores the lock, and so does the compiled read
    with pytest.raises(TransactionManagementError):
        LOCKED.rows(pk=slots[0].pk)


def test_it_runs_as_one_prepared_statement_on_postgresql(grid):
    provider, _ = grid
    STARTS.rows(provider_id=provider.pk)
    with CaptureQueriesContext(connection) as queries:
        STARTS.rows(provider_id=provider.pk)
    assert len(queries.captured_queries) == 1
    if connection.vendor == "postgresql":
        assert "%s" in queries.captured_queries[0]["sql"]  # bound on the server


class _Input(serializers.Serializer):
    slot_id = CompiledPrimaryKeyField(queryset=Slot.objects.all())


class _PlainInput(serializers.Serializer):
    slot_id = serializers.PrimaryKeyRelatedField(queryset=Slot.objects.all())


@pytest.mark.parametrize("value", [True, "x", None, [1], -5, 10**20])
def test_the_primary_key_field_refuses_what_drfs_refuses(grid, value):
    compiled, plain = _Input(data={"slot_id": value}), _PlainInput(data={"slot_id": value})
    assert compiled.is_valid() is plain.is_valid() is False
    assert compiled.errors == plain.errors


def test_the_primary_key_field_reads_the_row(grid):
    _, slots = grid
    for value in (slots[1].pk, str(slots[1].pk)):
        serializer = _Input(data={"slot_id": value})
        assert serializer.is_valid(), serializer.errors
        assert serializer.validated_data["slot_id"] == slots[1]


def _stored(model, pk, skip=("id",)):
    row = model.objects.filter(pk=pk).values()[0]
    return {k: v for k, v in row.items() if k not in skip}


def test_a_compiled_insert_stores_the_row_and_audit_entry_djangos_insert_stores(grid, settings):
    from config.models import AuditEntry

    _, slots = grid
    visit = f.appointment_type(name="Cleaning")
    made = []
    for prepared in (True, True, False):  # the plan is made, then used; then Django's path
        settings.DB_PREPARED_STATEMENTS = prepared
        patient = f.patient(last_name="Roe", date_of_birth=slots[0].start.date())
        appointment = f.appointment(
            patient=patient,
            slot=slots[len(made)],
            appointment_type=visit,
        )
        made.append(appointment)
    plans = connections["default"].__dict__.get("_compiled_inserts", {})
    if connection.vendor == "postgresql":
        assert any(key[0] is type(made[0]) for key in plans)
    else:
        assert not plans

    compiled, _, django = made
    varying = (
        "id",
        "patient_id",
        "start",
        "end",
        "appointment_type_id",
        "created_at",
        "updated_at",
    )
    assert _stored(type(compiled), compiled.pk, varying) == _stored(
        type(django), django.pk, varying
    )
    entries = [
        AuditEntry.objects.get(object_id=a.pk, content_type__model="appointment", action=0)
        for a in made
    ]
    same = {"status", "channel", "provider", "location", "room", "book_reason"}
    assert {k: v for k, v in entries[0].changes.items() if k in same} == {
        k: v for k, v in entries[2].changes.items() if k in same
    }
    assert entries[0].changes["patient"] == ["None", str(compiled.patient_id)]


def test_compiled_per_key_makes_each_key_s_read_once():
    made: list[int] = []

    def make(limit: int) -> Compiled[int]:
        made.append(limit)
        return Compiled(lambda: Slot.objects.order_by("pk").values_list("pk", flat=True)[:limit])

    per_limit: CompiledPer[int, int] = CompiledPer(make)

    assert per_limit(2) is per_limit(2)
    assert per_limit(3) is not per_limit(2)
    assert made == [2, 3]
