"""EHR documentation becomes diagnoses, priced charges and a scrubbed claim, exactly once."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

import pytest

from billing.documentation import EncounterDocumentation, ProcedureLine
from billing.models import Charge, Claim, ClaimStatusHistory, Encounter
from billing.services import (
    ERR_DOC_ALREADY_SUBMITTED,
    ERR_DOC_NAIVE_TIME,
    ERR_DOC_NO_TARGET,
    ERR_DOC_UNKNOWN_APPOINTMENT,
    DocumentationError,
    encounter_document,
)
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def test_documentation_builds_priced_charges_and_a_clean_claim():
    v = b.visit()

    enc = encounter_document(doc=b.documentation(v))

    assert enc.status == Encounter.Status.BILLED
    assert [d.code for d in enc.diagnoses.all()] == ["Z0120", "K0252"]
    lines = list(enc.charges.values_list("procedure_code", "amount", "diagnosis_pointers"))
    assert lines == [("D0150", Decimal("95.00"), [1]), ("D2391", Decimal("180.00"), [2])]
    claim = enc.claims.get()
    assert claim.total_charge == Decimal("275.00")
    assert claim.payer == v.payer and claim.coverage == v.coverage
    assert claim.status == Claim.Status.READY, list(claim.findings.values_list("message"))


def test_units_multiply_the_fee():
    v = b.visit()
    doc = b.documentation(v, procedures=(ProcedureLine(code="D0210", units=2),))

    enc = encounter_document(doc=doc)

    assert enc.charges.get().amount == Decimal("280.00")


def test_the_same_documentation_twice_changes_nothing():
    v = b.visit()
    doc = b.documentation(v)
    encounter_document(doc=doc)
    before = (
        list(Charge.objects.values_list("id", flat=True)),
        ClaimStatusHistory.objects.count(),
    )

    again = encounter_document(doc=doc)

    assert Claim.objects.count() == 1
    assert again.claims.get().status == Claim.Status.READY
    after = (
        list(Charge.objects.values_list("id", flat=True)),
        ClaimStatusHistory.objects.count(),
    )
    assert after == before


def test_amended_documentation_replaces_the_lines_before_submission():
    v = b.visit()
    encounter_document(doc=b.documentation(v))

    enc = encounter_document(
        doc=b.documentation(v, procedures=(ProcedureLine(code="D0140"),), diagnoses=("K0252",))
    )

    assert list(enc.charges.values_list("procedure_code", flat=True)) == ["D0140"]
    assert enc.claims.get().total_charge == Decimal("70.00")


def test_amended_documentation_after_submission_is_refused():
    v = b.visit()
    enc = encounter_document(doc=b.documentation(v))
    enc.claims.update(status=Claim.Status.SUBMITTED)

    with pytest.raises(DocumentationError, match=re.escape(ERR_DOC_ALREADY_SUBMITTED)):
        encounter_document(doc=b.documentation(v, documentation_ref="NOTE-2"))


def test_bad_documentation_is_refused_with_a_reason():
    v = b.visit()
    with pytest.raises(DocumentationError, match=re.escape(ERR_DOC_NAIVE_TIME)):
        encounter_document(doc=b.documentation(v, documented_at=datetime(2026, 3, 10, 9)))
    with pytest.raises(DocumentationError, match=re.escape(ERR_DOC_UNKNOWN_APPOINTMENT)):
        encounter_document(doc=b.documentation(v, appointment_id=999999))
    with pytest.raises(DocumentationError, match=re.escape(ERR_DOC_NO_TARGET)):
        encounter_document(doc=b.documentation(v, appointment_id=None))
    assert not Encounter.objects.filter(status=Encounter.Status.BILLED).exists()


def test_the_encounter_number_alone_identifies_the_visit():
    v = b.visit()
    first = encounter_document(doc=b.documentation(v))

    doc = b.documentation(v, appointment_id=None, encounter_number=first.encounter_number)
    assert encounter_document(doc=doc).pk == first.pk


def test_a_walk_in_without_appointment_opens_an_encounter():
    v = b.visit()
    doc = EncounterDocumentation(
        source_system="TEST-EHR",
        documented_at=v.appointment.start,
        diagnoses=("K02.52",),
        procedures=(ProcedureLine(code="D2391"),),
        patient_id=v.patient.pk,
        provider_npi=v.provider.npi,
        location_id=v.location.pk,
        date_of_service=v.appointment.start.date(),
        encounter_number="WALKIN-1",
    )

    enc = encounter_document(doc=doc)

    assert enc.encounter_number == "WALKIN-1" and enc.appointment is None
    assert enc.claims.get().total_charge == Decimal("180.00")


def test_lines_may_name_their_diagnoses_by_code_instead_of_pointer():
    # HL7 FT1-19 and FHIR ChargeItem reasons link a line to codes, not positions.
    v = b.visit()
    doc = b.documentation(
        v,
        diagnoses=("Z01.20",),
        procedures=(
            ProcedureLine(code="D0150", diagnosis_codes=("Z01.20",)),
            ProcedureLine(code="D2391", diagnosis_codes=("K02.52", "Z01.20")),
        ),
    )

    enc = encounter_document(doc=doc)

    assert [d.code for d in enc.diagnoses.all()] == ["Z0120", "K0252"]
    assert [c.diagnosis_pointers for c in enc.charges.all()] == [[1], [2, 1]]
    assert enc.claims.get().status == Claim.Status.READY
