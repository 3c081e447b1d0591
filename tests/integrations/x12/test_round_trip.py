"""Booked -> documented -> claim -> scrubbed -> 837P -> 999/277CA -> 835 -> posted, via the sandbox payer."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.models import Claim, ClaimBatch, Encounter, RemittanceClaim
from billing.services import encounter_document
from integrations.models import Connector, Message
from integrations.sandbox_payer.payer import claim_outcome
from integrations.x12.clearinghouse import clearinghouse_collect
from integrations.x12.submission import claims_submit
from tests.billing import builders as b

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(tmp_path):
    def make(payer):
        return Connector.objects.create(
            name=f"Sandbox {payer.name}",
            kind=Connector.Kind.SANDBOX,
            role=Connector.Role.CLEARINGHOUSE,
            payer=payer,
            endpoint=str(tmp_path / payer.payer_code),
        )

    return make


def test_a_documented_visit_travels_to_payment_and_back(sandbox):
    v = b.visit()
    connector = sandbox(v.payer)
    enc = encounter_document(doc=b.documentation(v))
    claim = enc.claims.get()
    assert claim.status == Claim.Status.READY

    result = claims_submit()

    assert [w.claims for w in result.written] == [1]
    claim.refresh_from_db()
    # The sandbox answers the 837P at once with a 999 and a 277CA accepting the claim.
    assert claim.status == Claim.Status.ACCEPTED
    batch = ClaimBatch.objects.get()
    assert batch.ack_status == "A" and claim.batch == batch
    ledger = list(
        Message.objects.filter(connector=connector).values_list("direction", "message_type")
    )
    assert sorted(ledger) == [("in", "277"), ("in", "999"), ("out", "837")]

    picked = clearinghouse_collect(connector=connector)

    assert len(picked) == 1 and "posted 1" in picked[0]
    claim.refresh_from_db()
    expected = {
        "paid": Claim.Status.PAID,
        "partial": Claim.Status.PARTIAL,
        "denied": Claim.Status.DENIED,
    }[claim_outcome(claim.claim_number)]
    assert claim.status == expected
    posted = RemittanceClaim.objects.get(claim=claim)
    assert posted.paid == claim.paid_amount
    assert list(claim.history.values_list("status", flat=True)) == [
        "draft",
        "ready",
        "submitted",
        "accepted",
        expected,
    ]
    assert Message.objects.filter(message_type="835", status="processed").count() == 1
    assert Encounter.objects.get(pk=enc.pk).status == Encounter.Status.BILLED


def test_collecting_twice_posts_nothing_new(sandbox):
    v = b.visit()
    connector = sandbox(v.payer)
    encounter_document(doc=b.documentation(v))
    claims_submit()
    clearinghouse_collect(connector=connector)
    paid = Claim.objects.get().paid_amount

    assert clearinghouse_collect(connector=connector) == []
    assert Claim.objects.get().paid_amount == paid


def test_out_dir_writes_837p_files_and_leaves_claims_submitted(tmp_path):
    v = b.visit()
    encounter_document(doc=b.documentation(v))

    result = claims_submit(out_dir=tmp_path / "out")

    (written,) = result.written
    assert (tmp_path / "out" / f"837P_{written.interchange_control_number:09d}.x12").exists()
    assert Claim.objects.get().status == Claim.Status.SUBMITTED


def test_claims_for_a_payer_without_connector_wait(sandbox):
    v = b.visit()
    encounter_document(doc=b.documentation(v))

    result = claims_submit()

    assert result.written == [] and result.waiting == [Claim.objects.get().claim_number]
    assert Claim.objects.get().status == Claim.Status.READY
    assert Decimal(Claim.objects.get().total_charge) == Decimal("275.00")


def test_submit_claims_prints_what_it_wrote_and_what_it_held(tmp_path, capsys):
    from django.core.management import call_command

    good = b.visit()
    bad = b.visit(the_payer=good.payer)
    encounter_document(doc=b.documentation(good))
    held = encounter_document(doc=b.documentation(bad, diagnoses=("K02",))).claims.get()

    call_command("submit_claims", "--out", str(tmp_path))

    out = capsys.readouterr().out
    assert "Wrote batch ISA" in out and f"-> {tmp_path}" in out
    assert f"Held {held.claim_number}: ICD_NOT_BILLABLE" in out
    assert "Summary: 1 claim(s) written in 1 batch(es), 1 held by the scrubber" in out
