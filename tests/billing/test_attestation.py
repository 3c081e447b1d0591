"""A biller cannot clear the high-dollar finding by typing a reference; an audited
attestation with a reason can."""

from __future__ import annotations

import pytest

from billing import scrubber as s
from billing.documentation import ProcedureLine
from billing.models import Claim, DocumentationAttestation
from billing.services import (
    ERR_ATTEST_REASON,
    ChargeFix,
    DocumentationError,
    claim_documentation_attest,
    claim_fix,
    encounter_document,
)
from config.models import AuditEntry as LogEntry
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(settings) -> Claim:
    settings.BILLING_DOCUMENTATION_THRESHOLD = 500
    v = b.visit()
    doc = b.documentation(
        v,
        procedures=(ProcedureLine(code="D7240", diagnosis_pointers=(2,)),),
        documentation_ref="",
        ehr_signed=False,
    )
    claim = encounter_document(doc=doc).claims.get()
    assert claim.status == Claim.Status.HELD
    return claim


def _codes(claim: Claim) -> set[str]:
    return set(claim.findings.filter(resolved=False).values_list("code", flat=True))


def test_typing_a_reference_does_not_clear_the_high_dollar_finding(held):
    charge = held.encounter.charges.get()

    claim_fix(
        claim=held,
        diagnoses=[d.code for d in held.encounter.diagnoses.all()],
        lines=[
            ChargeFix(
                line_number=charge.line_number,
                procedure_code=charge.procedure_code,
                modifiers=(),
                units=charge.units,
                diagnosis_pointers=tuple(charge.diagnosis_pointers),
                service_date=charge.service_date,
            )
        ],
        documentation_ref="anything at all",
    )
    s.claim_scrub(claim=held)

    held.refresh_from_db()
    assert held.status == Claim.Status.HELD
    assert s.HIGH_DOLLAR_UNDOCUMENTED in _codes(held)


def test_an_attestation_needs_a_reason_and_is_audited(held, biller):
    with pytest.raises(DocumentationError) as refused:
        claim_documentation_attest(claim=held, by=biller, reason="ok")
    assert str(refused.value) == ERR_ATTEST_REASON

    attestation = claim_documentation_attest(
        claim=held, by=biller, reason="Scanned op note in the chart, EHR was down 3/4"
    )

    held.refresh_from_db()
    assert held.status == Claim.Status.READY and _codes(held) == set()
    assert attestation.attested_by == biller
    entry = LogEntry.objects.get_for_model(DocumentationAttestation).get()
    assert entry.action == LogEntry.Action.CREATE
    assert "Scanned op note" in str(entry.changes)


def test_the_claim_page_offers_the_attestation_and_records_it(client, biller, held):
    client.force_login(biller)
    page = client.get(f"/billing/claims/{held.pk}/").content.decode()
    assert "Attest the documentation" in page and "no EHR-signed note" in page

    client.post(
        f"/billing/claims/{held.pk}/",
        {"action": "attest", "attestation": "Paper chart from the downtime, filed 3/5"},
    )

    held.refresh_from_db()
    assert held.status == Claim.Status.READY
    page = client.get(f"/billing/claims/{held.pk}/").content.decode()
    assert "Paper chart from the downtime" in page
