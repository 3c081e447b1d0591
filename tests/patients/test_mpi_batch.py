"""The batch upsert decides exactly as one record at a time, also around its bounded
candidate pools (a phone many patients share)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import transaction

from patients.models import Patient
from patients.mpi import (
    BatchItem,
    PatientRecord,
    SourceIdentifier,
    patient_upsert_batch,
    patient_upsert_from_source,
)
from patients.mpi.upsert import PHONE_POOL
from tests import factories as f

SHARED = "3035550100"  # a clinic's main line, given by many patients


class _Undo(Exception):
    pass


def _outcome(upsert) -> tuple[str, bool, list[str]]:
    """Run ``upsert`` and roll it back; what it decided, with the possible duplicates named."""
    seen: list[tuple[str, bool, list[str]]] = []
    with pytest.raises(_Undo), transaction.atomic():
        result = upsert()
        names = sorted(Patient.objects.get(pk=pk).last_name for pk in result.possible_duplicates)
        seen.append((result.matched_by, result.created, names))
        raise _Undo
    return seen[0]


@pytest.mark.django_db
def test_a_shared_phone_gives_the_same_decisions_in_a_batch_as_one_by_one():
    # More holders of the phone than either path reads: both score the first PHONE_POOL
    # in model order (last name, first name), none of which the record resembles enough.
    born = date(1950, 1, 1)
    for i in range(PHONE_POOL + 15):
        f.patient(last_name=f"Shared{i:03d}", phone=SHARED, date_of_birth=born + timedelta(i))
    # Same birth date and a near name: found through the birth date, a possible duplicate.
    f.patient(last_name="Rivera", first_name="Ana", phone=SHARED, date_of_birth=date(1990, 3, 4))
    record = PatientRecord(
        identifiers=(SourceIdentifier(system="DEN-PMS", value="NEW1"),),
        first_name="Anna",
        last_name="Riviera",
        date_of_birth=date(1990, 3, 4),
        phone=SHARED,
    )

    one = _outcome(lambda: patient_upsert_from_source(record=record))
    batch = _outcome(lambda: patient_upsert_batch([BatchItem(record, None, None)])[0])

    assert one == batch
    assert one[1] is True  # a new patient, not a merge into a shared-phone stranger
    assert one[2] == ["Rivera"]
