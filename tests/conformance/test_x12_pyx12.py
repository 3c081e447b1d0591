"""Every 837P and 835 we write passes pyx12's independent X12 validator.

``x12valid`` exits 1 even on success, so the verdict is read from its ``<file>: OK``
line. The 999 and 277CA the sandbox payer writes are checked too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from billing.documentation import ProcedureLine
from billing.models import Claim
from billing.services import encounter_document
from integrations.models import Connector, Message
from integrations.sandbox_payer.payer import claim_outcome
from integrations.x12.submission import claims_submit
from patients.models import Coverage
from tests.billing import builders as b

pytestmark = pytest.mark.django_db

X12VALID = str(Path(sys.executable).with_name("x12valid"))


def x12valid(path: Path) -> str:
    proc = subprocess.run(
        [X12VALID, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    return proc.stdout + proc.stderr


def assert_valid(raw: str, path: Path) -> None:
    path.write_text(raw)
    output = x12valid(path)
    assert f"{path}: OK" in output, output[-3000:]


def _claims(n: int) -> list[Claim]:
    """Varied claims: dependents, modifiers, several lines and pointers, two locations."""
    payer = b.payer()
    out = []
    for i in range(n):
        v = b.visit(
            start=datetime(2026, 3, 2, 15, 0, tzinfo=UTC) + timedelta(days=i), the_payer=payer
        )
        if i % 3 == 1:
            Coverage.objects.filter(pk=v.coverage.pk).update(
                relationship=Coverage.Relationship.CHILD,
                subscriber_first_name="PARENT",
                subscriber_last_name=v.patient.last_name,
                subscriber_dob=date(1970, 1, 1),
            )
        procedures = [
            ProcedureLine(code="D0150", diagnosis_pointers=(1,)),
            ProcedureLine(
                code="D2391", modifiers=("TH",) if i % 2 else (), diagnosis_pointers=(2, 1)
            ),
        ]
        if i % 4 == 3:
            procedures.append(ProcedureLine(code="D0210", units=2, diagnosis_pointers=(1,)))
        doc = b.documentation(v, procedures=tuple(procedures))
        out.append(encounter_document(doc=doc).claims.get())
    return out


def test_our_837p_batches_pass_pyx12(tmp_path):
    claims = _claims(8)

    result = claims_submit(out_dir=tmp_path / "out")

    assert sum(w.claims for w in result.written) == len(claims)
    files = sorted((tmp_path / "out").glob("837P_*.x12"))
    assert files
    for path in files:
        output = x12valid(path)
        assert f"{path}: OK" in output, output[-3000:]


def test_the_sandbox_payers_835_999_and_277ca_pass_pyx12(tmp_path):
    claims = _claims(10)
    connector = Connector.objects.create(
        name="Sandbox",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.CLEARINGHOUSE,
        payer=claims[0].payer,
        endpoint=str(tmp_path / "sbx"),
    )
    # Claim numbers chosen so the payer pays, partially pays and denies (it decides by
    # claim number), whatever ids the database hands out.
    candidates = (f"CLM{j:05d}" for j in range(10_000))
    for i, claim in enumerate(claims):
        wanted = ("paid", "partial", "denied")[i % 3]
        claim.claim_number = next(c for c in candidates if claim_outcome(c) == wanted)
        claim.save(update_fields=["claim_number"])

    claims_submit()
    from integrations.x12.clearinghouse import clearinghouse_collect

    clearinghouse_collect(connector=connector)

    inbound = Message.objects.filter(direction="in").order_by("id")
    assert sorted(m.message_type for m in inbound) == ["277", "835", "999"]
    for message in inbound:
        assert_valid(message.raw, tmp_path / f"{message.message_type}_{message.pk}.x12")


@pytest.mark.skipif(shutil.which(X12VALID) is None, reason="pyx12 not installed")
def test_the_validator_catches_a_broken_837p(tmp_path):
    """The check above could not pass by accident: a bad file fails it."""
    _claims(1)
    claims_submit(out_dir=tmp_path)
    (path,) = tmp_path.glob("837P_*.x12")
    path.write_text(path.read_text().replace("HL*1**20*1", "HL*1**20"))
    assert f"{path}: OK" not in x12valid(path)


def test_a_corrected_claim_after_a_denial_is_a_valid_replacement(tmp_path):
    from billing.services import claim_resubmit
    from integrations.x12.clearinghouse import remittance_post
    from tests.integrations.x12.samples import PAID_AND_DENIED, wrap

    (claim,) = _claims(1)
    claim.payer.payer_code = "SBXDD1"
    claim.payer.save()
    Claim.objects.filter(pk=claim.pk).update(
        claim_number="E000000002-1", status=Claim.Status.ACCEPTED
    )
    remittance_post(raw=wrap("835", PAID_AND_DENIED))
    claim.refresh_from_db()
    assert claim.status == Claim.Status.DENIED and claim.payer_claim_number == "PCN2"

    claim_resubmit(claim=claim)
    claims_submit(out_dir=tmp_path)

    (path,) = tmp_path.glob("837P_*.x12")
    raw = path.read_text()
    assert "*11:B:7*" in raw and "REF*F8*PCN2~" in raw
    output = x12valid(path)
    assert f"{path}: OK" in output, output[-3000:]
