"""835 posting: matched by CLP01, idempotent, reversals, unmatched queue, bad files."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import Adjustment, Claim, Remittance, RemittanceClaim
from billing.remittance import MSG_ALREADY_POSTED, remittance_claim_match
from billing.services import encounter_document
from integrations.models import Message
from integrations.x12.clearinghouse import remittance_post
from tests.billing import builders as b
from tests.integrations.x12.samples import PAID_AND_DENIED, REVERSAL, wrap

pytestmark = pytest.mark.django_db


def _claims() -> tuple[Claim, Claim]:
    """Two submitted claims numbered as the sample 835s expect, from payer SBXDD1."""
    payer = b.payer(code="SBXDD1")
    out = []
    for number in ("E000000001-1", "E000000002-1"):
        v = b.visit(the_payer=payer)
        claim = encounter_document(doc=b.documentation(v)).claims.get()
        Claim.objects.filter(pk=claim.pk).update(claim_number=number, status=Claim.Status.ACCEPTED)
        claim.refresh_from_db()
        out.append(claim)
    return out[0], out[1]


def test_payments_adjustments_and_denials_post_to_their_claims():
    paid, denied = _claims()

    result = remittance_post(raw=wrap("835", PAID_AND_DENIED))

    assert (result.matched, result.posted, result.skipped, result.unmatched) == (2, 2, 0, 0)
    paid.refresh_from_db()
    denied.refresh_from_db()
    assert paid.status == Claim.Status.PAID and paid.paid_amount == Decimal("160.80")
    assert paid.patient_responsibility == Decimal("38.00")
    assert denied.status == Claim.Status.DENIED and denied.paid_amount == 0
    (adj,) = Adjustment.objects.filter(remittance_claim__claim=denied)
    assert (adj.group_code, adj.reason_code, adj.remark_code, adj.denied) == (
        "CO",
        "50",
        "N115",
        True,
    )
    assert set(
        Adjustment.objects.filter(remittance_claim__claim=paid).values_list(
            "group_code", "reason_code"
        )
    ) == {("CO", "45"), ("PR", "2"), ("PR", "1")}
    assert Message.objects.get().status == Message.Status.PROCESSED


def test_the_same_835_twice_changes_nothing_and_says_so(capsys, tmp_path):
    _claims()
    path = tmp_path / "remit.835"
    path.write_text(wrap("835", PAID_AND_DENIED))
    call_command("post_remittance", str(path))
    before = list(Claim.objects.order_by("pk").values_list("paid_amount", "status"))
    capsys.readouterr()

    call_command("post_remittance", str(path))

    out = capsys.readouterr().out
    assert MSG_ALREADY_POSTED in out and "skipped as already posted 2" in out
    assert list(Claim.objects.order_by("pk").values_list("paid_amount", "status")) == before
    assert Remittance.objects.count() == 1 and RemittanceClaim.objects.count() == 2


def test_the_same_payments_in_a_new_envelope_are_skipped():
    _claims()
    remittance_post(raw=wrap("835", PAID_AND_DENIED, control=7))

    result = remittance_post(raw=wrap("835", PAID_AND_DENIED, control=8))

    assert (result.matched, result.posted, result.skipped) == (2, 0, 2)
    assert Claim.objects.get(claim_number="E000000001-1").paid_amount == Decimal("160.80")


def test_a_reversal_takes_the_payment_back_and_the_correction_reposts_it():
    paid, _ = _claims()
    remittance_post(raw=wrap("835", PAID_AND_DENIED, control=7))

    result = remittance_post(raw=wrap("835", REVERSAL, control=9))

    assert (result.matched, result.posted) == (2, 2)
    paid.refresh_from_db()
    assert paid.paid_amount == Decimal("160.80") and paid.status == Claim.Status.PAID
    assert [h.status for h in paid.history.all()][-3:] == ["paid", "accepted", "paid"]
    assert "reversal of 160.8" in paid.history.all()[len(paid.history.all()) - 2].note


def test_lines_matching_no_claim_go_to_the_queue_and_can_be_matched_by_hand():
    payer = b.payer(code="SBXDD1")
    v = b.visit(the_payer=payer)
    claim = encounter_document(doc=b.documentation(v)).claims.get()
    Claim.objects.filter(pk=claim.pk).update(claim_number="TYPO-1", status=Claim.Status.ACCEPTED)

    result = remittance_post(raw=wrap("835", PAID_AND_DENIED))

    assert (result.matched, result.unmatched) == (0, 2)
    line = RemittanceClaim.objects.get(clp01="E000000001-1")
    assert line.claim is None and line.adjustments.count() == 4

    remittance_claim_match(remittance_claim_id=line.pk, claim_number="TYPO-1")

    claim.refresh_from_db()
    assert claim.paid_amount == Decimal("160.80") and claim.status == Claim.Status.PAID


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (wrap("835", PAID_AND_DENIED)[:400], "truncated"),
        (wrap("835", PAID_AND_DENIED).replace("SE*", "SE*1", 1), "SE01 says"),
        (
            wrap(
                "835",
                PAID_AND_DENIED.replace("REF*2U*SBXDD1", "REF*2U*NOPE1").replace(
                    "DELTA DENTAL", "NOBODY"
                ),
            ),
            "payer the hub does not know (NOPE1)",
        ),
    ],
    ids=["truncated", "segment-count", "unknown-payer"],
)
def test_a_bad_835_is_kept_reported_and_changes_no_balance(raw, reason, tmp_path):
    _claims()
    path = tmp_path / "bad.835"
    path.write_text(raw)

    with pytest.raises(CommandError) as exc:
        call_command("post_remittance", str(path))

    assert reason in str(exc.value) and "no balance changed" in str(exc.value)
    message = Message.objects.get()
    assert message.status == Message.Status.REJECTED and message.raw == raw
    assert reason in message.last_error
    assert set(Claim.objects.values_list("paid_amount", flat=True)) == {Decimal("0")}
    assert not Remittance.objects.exists()
