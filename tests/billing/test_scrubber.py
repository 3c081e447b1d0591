"""One test per scrubber rule: each stops a claim a payer would deny, with a plain reason."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing import scrubber as s
from billing.documentation import ProcedureLine
from billing.models import Charge, Claim, Diagnosis, DiagnosisProcedureRule, Payer
from billing.services import encounter_document
from integrations.x12.submission import claims_submit
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


def _claim(**doc_kw) -> Claim:
    v = b.visit()
    return encounter_document(doc=b.documentation(v, **doc_kw)).claims.get()


def _codes(claim: Claim) -> set[str]:
    return {f.code for f in s.claim_scrub(claim=claim)}


def test_a_clean_claim_has_no_findings_and_is_ready():
    claim = _claim()
    assert s.claim_scrub(claim=claim) == []
    assert claim.status == Claim.Status.READY


def test_an_unknown_icd10_code_is_stopped():
    claim = _claim(diagnoses=("Z01.20", "K99.99"))
    findings = s.claim_scrub(claim=claim)
    assert [f.code for f in findings] == [s.ICD_INVALID]
    assert findings[0].message.startswith("Diagnosis 2 (K9999) is not an ICD-10-CM code.")
    assert claim.status == Claim.Status.HELD


def test_a_category_code_is_not_billable():
    claim = _claim(diagnoses=("Z01.20", "K02"))
    assert _codes(claim) == {s.ICD_NOT_BILLABLE}


def test_a_charge_without_diagnosis_pointer_is_stopped():
    claim = _claim(procedures=(ProcedureLine(code="D0150", diagnosis_pointers=()),))
    assert _codes(claim) == {s.CHARGE_NO_DIAGNOSIS}


def test_a_pointer_past_the_diagnoses_is_stopped():
    claim = _claim(procedures=(ProcedureLine(code="D0150", diagnosis_pointers=(3,)),))
    assert _codes(claim) == {s.CHARGE_BAD_POINTER}


def test_diagnosis_procedure_pairs_follow_the_rule_table():
    b.default_rules()
    # A filling (D2391) justified by "routine exam" (Z01.20): the pair does not link.
    claim = _claim(procedures=(ProcedureLine(code="D2391", diagnosis_pointers=(1,)),))
    findings = s.claim_scrub(claim=claim)
    assert [f.code for f in findings] == [s.DX_PROCEDURE_MISMATCH]
    assert "needs one of K02, K03 (restorative)" in findings[0].message


def test_the_rule_table_is_data_an_admin_can_change():
    b.default_rules()
    claim = _claim(procedures=(ProcedureLine(code="D2391", diagnosis_pointers=(1,)),))
    assert _codes(claim) == {s.DX_PROCEDURE_MISMATCH}

    DiagnosisProcedureRule.objects.filter(procedure_prefix="D2").update(active=False)

    assert _codes(claim) == set()


def test_a_billing_date_that_misses_the_documentation_timestamp_is_stopped():
    v = b.visit()
    late = v.appointment.start + timedelta(days=10)
    claim = encounter_document(doc=b.documentation(v, documented_at=late)).claims.get()
    findings = s.claim_scrub(claim=claim)
    assert [f.code for f in findings] == [s.DATE_MISMATCH]
    assert "2026-03-10" in findings[0].message and "2026-03-20" in findings[0].message


def test_a_line_billed_on_another_day_is_stopped():
    v = b.visit()
    other_day = v.appointment.start.date() - timedelta(days=1)
    doc = b.documentation(v, procedures=(ProcedureLine(code="D0150", service_date=other_day),))
    assert _codes(encounter_document(doc=doc).claims.get()) == {s.DATE_MISMATCH}


def test_documentation_is_judged_in_the_locations_time_zone():
    # 22:30 in Denver on the visit day is already the next day in UTC: not a mismatch.
    v = b.visit()
    local_evening = v.appointment.start.replace(hour=4, minute=30) + timedelta(days=1)
    claim = encounter_document(doc=b.documentation(v, documented_at=local_evening)).claims.get()
    assert _codes(claim) == set()


def test_a_high_dollar_code_without_documentation_reference_is_stopped(settings):
    settings.BILLING_DOCUMENTATION_THRESHOLD = 500
    claim = _claim(
        procedures=(ProcedureLine(code="D7240", diagnosis_pointers=(2,)),),
        documentation_ref="",
        ehr_signed=False,
    )
    findings = s.claim_scrub(claim=claim)
    assert [f.code for f in findings] == [s.HIGH_DOLLAR_UNDOCUMENTED]
    assert "$620.00" in findings[0].message and "$500" in findings[0].message


def test_a_low_dollar_code_needs_no_documentation_reference():
    claim = _claim(documentation_ref="")
    assert _codes(claim) == set()


def test_a_provider_npi_with_a_bad_check_digit_is_stopped():
    claim = _claim()
    provider = claim.encounter.provider
    provider.npi = provider.npi[:-1] + str((int(provider.npi[-1]) + 1) % 10)
    provider.save()
    assert _codes(claim) == {s.NPI_INVALID}


def test_a_missing_subscriber_field_is_stopped():
    claim = _claim()
    cov = claim.coverage
    cov.member_id = ""
    cov.save()
    findings = s.claim_scrub(claim=claim)
    assert [f.code for f in findings] == [s.SUBSCRIBER_MISSING]
    assert findings[0].message == "The subscriber's member id is missing."


def test_a_missing_payer_id_is_stopped():
    claim = _claim()
    Payer.objects.filter(pk=claim.payer_id).update(payer_code="")
    assert _codes(claim) == {s.PAYER_MISSING}


def test_a_second_claim_for_the_same_visit_is_a_duplicate():
    first = _claim()
    enc = first.encounter
    second = Claim.objects.create(
        claim_number=f"{enc.encounter_number}-2",
        encounter=enc,
        coverage=first.coverage,
        payer=first.payer,
        total_charge=first.total_charge,
        created_at=first.created_at,
    )
    findings = s.claim_scrub(claim=second)
    assert [f.code for f in findings] == [s.DUPLICATE_CLAIM]
    assert first.claim_number in findings[0].message
    assert s.claim_scrub(claim=first) == []  # the original stands


def test_an_unpriced_code_is_stopped():
    claim = _claim(procedures=(ProcedureLine(code="D9999"),))
    assert _codes(claim) == {s.CHARGE_NOT_PRICED}


def test_the_scrubber_not_the_payer_stops_a_broken_claim(tmp_path):
    """Three mistakes a coder fears, in one claim: the 837P never leaves."""
    b.default_rules()
    v = b.visit()
    doc = b.documentation(
        v,
        diagnoses=("K02",),  # a category, not billable
        procedures=(
            ProcedureLine(code="D7240", diagnosis_pointers=()),  # linked to nothing
            ProcedureLine(code="D0150", diagnosis_pointers=(1,)),
        ),
        documentation_ref="",
        ehr_signed=False,  # a $620 extraction with nothing behind it
    )
    claim = encounter_document(doc=doc).claims.get()

    result = claims_submit(out_dir=tmp_path)

    assert result.written == [] and list(tmp_path.iterdir()) == []
    assert {f.code for f in result.held[claim.claim_number]} == {
        s.ICD_NOT_BILLABLE,
        s.CHARGE_NO_DIAGNOSIS,
        s.HIGH_DOLLAR_UNDOCUMENTED,
    }
    claim.refresh_from_db()
    assert claim.status == Claim.Status.HELD and claim.batch is None


def test_fixing_a_held_claim_resolves_its_findings_and_makes_it_ready():
    claim = _claim(diagnoses=("Z01.20", "K02"))
    s.claim_scrub(claim=claim)
    Diagnosis.objects.filter(encounter=claim.encounter, code="K02").update(code="K0252")

    assert s.claim_scrub(claim=claim) == []
    assert claim.status == Claim.Status.READY
    assert list(claim.findings.values_list("code", "resolved")) == [(s.ICD_NOT_BILLABLE, True)]


def test_scrubbing_twice_records_each_finding_once():
    claim = _claim(diagnoses=("Z01.20", "K02"))
    s.claim_scrub(claim=claim)
    s.claim_scrub(claim=claim)
    assert claim.findings.count() == 1


def test_charges_keep_their_fee_schedule_amounts():
    _claim()
    assert sorted(Charge.objects.values_list("amount", flat=True)) == [
        Decimal("95.00"),
        Decimal("180.00"),
    ]
