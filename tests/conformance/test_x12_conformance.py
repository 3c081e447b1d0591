"""X12 conformance: duplicates are the same file, not the same envelope; a refused 835
can be posted once its cause is fixed; the 270s the hub writes and the 271s it accepts
pass an independent validator (LinuxForHealth x12, in its own venv: pydantic 1).

Each case names the clause it follows. The 837P and 835 the hub writes are checked by
pyx12 in test_x12_pyx12.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from billing.models import Claim, EligibilityCheck
from billing.services import encounter_document
from integrations import inbound
from integrations.models import Connector, Message
from integrations.operations import messages_replay, messages_reviewed
from integrations.x12.clearinghouse import inbound_post, remittance_post, x12_replays_due
from integrations.x12.tasks import (
    clearinghouse_collect_task,
    eligibility_check_send_task,
    x12_inbound_replay_task,
)
from patients.models import Coverage
from tests.billing import builders as b
from tests.integrations.x12.samples import DELTA_STYLE, PAID_AND_DENIED, wrap

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LFH_PYTHON = ROOT / "var" / "x12-venv" / "bin" / "python"
LFH_CHECK = Path(__file__).with_name("x12_lfh_check.py")

HEADER, CLAIMS = PAID_AND_DENIED.split("LX*1~")
PAID_CLAIM, DENIED_CLAIM = ("CLP*" + c for c in CLAIMS.split("CLP*")[1:])


def lfh_validate(tmp_path: Path, raws: dict[str, str]) -> dict[str, dict]:
    """All files in one run of the LinuxForHealth validator (one interpreter start)."""
    assert LFH_PYTHON.exists(), "run `make x12-validator` first"
    paths = []
    for name, raw in raws.items():
        path = tmp_path / f"{name}.x12"
        path.write_text(raw)
        paths.append(str(path))
    proc = subprocess.run(
        [str(LFH_PYTHON), str(LFH_CHECK), *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    verdicts = [json.loads(line) for line in proc.stdout.splitlines()]
    return {Path(v["file"]).stem: v for v in verdicts}


def _claims() -> tuple[Claim, Claim]:
    """Two submitted claims numbered as the sample 835 expects, from payer SBXDD1."""
    payer = b.payer(code="SBXDD1")
    out = []
    for number in ("E000000001-1", "E000000002-1"):
        v = b.visit(the_payer=payer)
        claim = encounter_document(doc=b.documentation(v)).claims.get()
        Claim.objects.filter(pk=claim.pk).update(claim_number=number, status=Claim.Status.ACCEPTED)
        out.append(claim)
    return out[0], out[1]


@pytest.fixture
def mailbox(tmp_path) -> Connector:
    return Connector.objects.create(
        name="Clearinghouse",
        kind=Connector.Kind.X12_MAILBOX,
        role=Connector.Role.CLEARINGHOUSE,
        endpoint=str(tmp_path / "mailbox"),
    )


# -- duplicates: content and transaction type, not the envelope ----------------------
def test_different_835s_under_one_control_number_are_all_posted_and_flagged(
    mailbox, client, ops_manager
):
    """X12.5 ISA13 is meant to be unique per sender, but reused numbers happen: a
    different file under a used number is a different file (posted), and a person is
    told (review flag in admin and on the health page)."""
    paid, denied = _claims()
    first = wrap("835", HEADER + "LX*1~" + PAID_CLAIM, control=41)
    second = wrap(
        "835",
        HEADER.replace("TRACE001", "TRACE003").replace("BPR*I*160.8", "BPR*I*0")
        + "LX*1~"
        + DENIED_CLAIM,
        control=41,
    )
    third = wrap("835", PAID_AND_DENIED, control=41)

    results = [remittance_post(raw=raw, connector=mailbox) for raw in (first, second, third)]

    assert [r.already_posted for r in results] == [False, False, False]
    rows = list(Message.objects.order_by("pk"))
    assert len(rows) == 3 and {r.status for r in rows} == {Message.Status.PROCESSED}
    paid.refresh_from_db()
    denied.refresh_from_db()
    assert paid.status == Claim.Status.PAID and paid.paid_amount == Decimal("160.80")
    assert denied.status == Claim.Status.DENIED
    assert results[2].skipped == 2, "the third file's payments were posted by the first two"
    assert rows[0].review_reason == ""
    assert all("ISA13 000000041" in r.review_reason for r in rows[1:])
    assert all(f"message #{rows[0].pk}" in r.review_reason for r in rows[1:])

    client.force_login(ops_manager)
    page = client.get("/integrations/health/").content.decode()
    assert "2 to review" in page and "review=yes" in page

    assert messages_reviewed(ids=[r.pk for r in rows]) == [rows[1].pk, rows[2].pk]
    assert not Message.objects.exclude(review_reason="").exists()


def test_the_same_file_twice_is_one_row_and_posts_once(mailbox):
    """Idempotent delivery: the same content of the same transaction type."""
    _claims()
    raw = wrap("835", PAID_AND_DENIED, control=42)
    remittance_post(raw=raw, connector=mailbox)

    again = remittance_post(raw=raw, connector=mailbox)

    assert again.already_posted and again.skipped == 2
    assert Message.objects.count() == 1
    assert Message.objects.get().review_reason == ""


def test_a_271_sharing_an_835s_envelope_is_not_its_duplicate(mailbox):
    """Transaction type (ST01) is part of identity: a 271 and an 835 with one ISA13."""
    _claims()
    remittance_post(raw=wrap("835", PAID_AND_DENIED, control=43), connector=mailbox)

    summary = inbound_post(raw=wrap("271", DELTA_STYLE, control=43), connector=mailbox)

    assert Message.objects.filter(message_type="271").count() == 1
    assert "duplicate" not in summary
    assert Message.objects.get(message_type="271").review_reason == ""


# -- a refused 835 is posted after its cause is fixed ---------------------------------
def test_a_835_refused_for_an_unknown_payer_posts_after_admin_replay(mailbox, client, admin_user):
    """The refusal was the hub's (no such payer yet): replay posts it, once."""
    paid, _ = _claims()
    raw = wrap("835", PAID_AND_DENIED.replace("REF*2U*SBXDD1", "REF*2U*NEWPAY1"), control=44)
    refused = remittance_post(raw=raw, connector=mailbox)
    assert "payer the hub does not know (NEWPAY1)" in refused.error
    row = Message.objects.get()
    assert row.status == Message.Status.REJECTED

    b.payer(code="NEWPAY1")
    client.force_login(admin_user)
    client.post("/admin/integrations/message/", {"action": "replay", "_selected_action": [row.pk]})

    row.refresh_from_db()
    assert row.status == Message.Status.RECEIVED
    # It is the X12 side's to post: the HL7/FHIR workers' sweep leaves it alone.
    assert row.ordering_key not in inbound.inbound_due_keys() or row.ordering_key == ""
    assert x12_replays_due() == [row.pk]
    x12_inbound_replay_task.apply(args=[row.pk])
    row.refresh_from_db()
    paid.refresh_from_db()
    assert row.status == Message.Status.PROCESSED and row.last_error == ""
    assert paid.status == Claim.Status.PAID and paid.paid_amount == Decimal("160.80")

    # Idempotent: a second run of the task, a second replay, a re-delivery change nothing.
    x12_inbound_replay_task.apply(args=[row.pk])
    assert messages_replay(ids=[row.pk]) == []
    assert remittance_post(raw=raw, connector=mailbox).already_posted
    paid.refresh_from_db()
    assert paid.paid_amount == Decimal("160.80")


def test_a_refused_835_delivered_again_after_the_fix_is_posted(mailbox):
    """A re-delivery of the same file is tried again, not answered with the old refusal."""
    paid, _ = _claims()
    raw = wrap("835", PAID_AND_DENIED.replace("REF*2U*SBXDD1", "REF*2U*NEWPAY2"), control=45)
    assert remittance_post(raw=raw, connector=mailbox).error
    b.payer(code="NEWPAY2")

    result = remittance_post(raw=raw, connector=mailbox)

    assert not result.error and result.posted == 2
    assert Message.objects.get().status == Message.Status.PROCESSED
    paid.refresh_from_db()
    assert paid.status == Claim.Status.PAID


def test_a_replayed_file_whose_task_was_lost_is_posted_by_the_collect_sweep(mailbox):
    paid, _ = _claims()
    raw = wrap("835", PAID_AND_DENIED.replace("REF*2U*SBXDD1", "REF*2U*NEWPAY3"), control=46)
    remittance_post(raw=raw, connector=mailbox)
    b.payer(code="NEWPAY3")
    row = Message.objects.get()
    Message.objects.filter(pk=row.pk).update(status=Message.Status.RECEIVED)

    clearinghouse_collect_task.apply()

    row.refresh_from_db()
    paid.refresh_from_db()
    assert row.status == Message.Status.PROCESSED and paid.status == Claim.Status.PAID


# -- 270 and 271: an independent validator --------------------------------------------
def test_the_270s_we_write_and_the_271s_we_accept_pass_linuxforhealth_x12(tmp_path):
    """ASC X12N 005010X279A1 (270/271), checked by LinuxForHealth x12's models."""
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    checks = []
    for member in ("ACTIVE0001", "INACTIVE77", "NOTFOUND12"):
        Coverage.objects.filter(pk=v.coverage.pk).update(member_id=member)
        check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
        eligibility_check_send_task.apply(args=[check.pk])
        checks.append(check)
    files = {
        f"{m.direction}-{m.message_type}-{m.pk}": m.raw
        for m in Message.objects.filter(message_type__in=["270", "271"])
    }
    files["in-271-delta-style"] = wrap("271", DELTA_STYLE)
    assert sum(k.startswith("out-270") for k in files) == 3
    assert sum(k.startswith("in-271") for k in files) == 4

    verdicts = lfh_validate(tmp_path, files)

    bad = {name: v["error"][:2000] for name, v in verdicts.items() if not v["ok"]}
    assert not bad, bad
    assert all(v["transactions"] for v in verdicts.values())


def test_the_linuxforhealth_check_refuses_a_broken_270(tmp_path):
    """The check cannot pass by accident: a 270 with its subscriber loop cut out."""
    v = b.visit()
    b.sandbox_for(v.payer, tmp_path)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    eligibility_check_send_task.apply(args=[check.pk])
    raw = Message.objects.get(message_type="270").raw
    broken = raw.replace("NM1*IL*", "NM1*ZZ*", 1)

    verdict = lfh_validate(tmp_path, {"broken": broken})["broken"]

    assert not verdict["ok"]
