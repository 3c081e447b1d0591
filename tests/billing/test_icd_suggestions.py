"""A biller told a code is wrong is told which billable codes would do, and taking one
clears the claim instead of sending them round in a circle."""

from __future__ import annotations

import pytest

from billing import scrubber as s
from billing.documentation import ProcedureLine
from billing.icd10 import icd10_billable, icd10_billable_under
from billing.models import Diagnosis, DiagnosisProcedureRule
from billing.services import encounter_document
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def test_every_suggestion_is_a_billable_code_under_the_category():
    suggested = icd10_billable_under("M26")
    assert suggested and all(code.startswith("M26.") for code in suggested)
    assert all(icd10_billable(code.replace(".", "")) for code in suggested)


def test_a_category_finding_names_billable_codes():
    v = b.visit()
    claim = encounter_document(doc=b.documentation(v, diagnoses=("Z01.20", "K02"))).claims.get()

    (finding,) = s.claim_scrub(claim=claim)

    assert finding.code == s.ICD_NOT_BILLABLE
    assert "e.g. K02.3, K02.51, K02.52" in finding.message


def test_a_rule_that_needs_a_category_suggests_codes_that_clear_both_rules():
    DiagnosisProcedureRule.objects.create(
        procedure_prefix="D7", diagnosis_prefixes=["M26"], description="needs an anomaly"
    )
    v = b.visit()
    doc = b.documentation(
        v,
        diagnoses=("K02.52",),
        procedures=(
            ProcedureLine(code="D0150", diagnosis_pointers=(1,)),
            ProcedureLine(code="D7240", diagnosis_pointers=(1,)),
        ),
    )
    claim = encounter_document(doc=doc).claims.get()
    (finding,) = s.claim_scrub(claim=claim)
    assert finding.code == s.DX_PROCEDURE_MISMATCH
    assert "billable codes: M26.00" in finding.message
    suggestion = finding.message.split("billable codes: ", 1)[1].split(",")[0]

    Diagnosis.objects.filter(encounter=claim.encounter).update(code=suggestion.replace(".", ""))

    assert s.claim_scrub(claim=claim) == []
