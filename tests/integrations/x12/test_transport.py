"""The x12_mailbox connector: files out atomically, answers picked up once, nothing lost."""

from __future__ import annotations

import pytest

from billing.models import Claim, ClaimBatch
from billing.services import encounter_document
from integrations.models import Connector, Message
from integrations.x12.acks import build_999
from integrations.x12.clearinghouse import clearinghouse_collect
from integrations.x12.core import Envelope
from integrations.x12.submission import claims_submit
from integrations.x12.transport import ERR_NO_ENDPOINT, TransportError, transport_for
from tests.billing import builders as b
from tests.integrations.x12.samples import AT

pytestmark = pytest.mark.django_db


def _mailbox(tmp_path, payer=None) -> Connector:
    return Connector.objects.create(
        name="Clearinghouse SFTP",
        kind=Connector.Kind.X12_MAILBOX,
        role=Connector.Role.CLEARINGHOUSE,
        payer=payer,
        endpoint=str(tmp_path / "mbox"),
    )


def test_a_batch_lands_in_the_outbox_and_its_999_is_picked_up_once(tmp_path):
    v = b.visit()
    connector = _mailbox(tmp_path)  # a general clearinghouse: no payer set
    encounter_document(doc=b.documentation(v))

    result = claims_submit()

    (written,) = result.written
    outbox = tmp_path / "mbox" / "outbox"
    (sent,) = outbox.iterdir()
    assert sent.name == f"837P_{written.interchange_control_number:09d}.x12"
    assert sent.stat().st_mode & 0o777 == 0o600, "PHI on disk is readable by the hub only"
    assert outbox.stat().st_mode & 0o777 == 0o700
    assert Claim.objects.get().status == Claim.Status.SUBMITTED
    batch = ClaimBatch.objects.get()

    # The clearinghouse drops its 999 in our inbox.
    env = Envelope("CLEARING", "CAREHUB", 501, 501, "FA", "005010X231A1", AT)
    inbox = tmp_path / "mbox" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "ack.999").write_text(
        build_999(
            env=env,
            group_control=str(batch.group_control_number),
            transaction_controls=["0001"],
            code="R",
        )
    )

    assert len(clearinghouse_collect(connector=connector)) == 1
    assert clearinghouse_collect(connector=connector) == []

    batch.refresh_from_db()
    assert batch.ack_status == "R"
    assert Claim.objects.get().status == Claim.Status.REJECTED
    assert not list(inbox.rglob("ack.999")), "an answer in the ledger leaves no copy on disk"
    assert Message.objects.filter(direction="in", message_type="999").count() == 1


def test_half_written_files_are_not_picked_up(tmp_path):
    connector = _mailbox(tmp_path)
    inbox = tmp_path / "mbox" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / ".incoming.835.part").write_text("ISA*00*")
    assert transport_for(connector).collect() == []


def test_a_mailbox_without_directory_is_a_permanent_error(tmp_path):
    connector = _mailbox(tmp_path)
    connector.endpoint = ""
    with pytest.raises(TransportError) as exc:
        transport_for(connector)
    assert exc.value.permanent and str(exc.value) == ERR_NO_ENDPOINT.format(name=connector.name)


def test_the_sandbox_payer_leaves_no_readable_x12_behind(tmp_path, settings):
    settings.VAR_DIR = tmp_path
    v = b.visit()
    Connector.objects.create(
        name="Sandbox clearinghouse",
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.CLEARINGHOUSE,
    )
    encounter_document(doc=b.documentation(v))

    claims_submit()

    files = list((tmp_path / "sandbox_payer").rglob("*.x12"))
    assert files, "the payer holds its 835 until our next pickup"
    assert not [p for p in files if "/outbox/" in str(p)], "the payer took what we sent"
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files), files
    clearinghouse_collect(connector=Connector.objects.get(kind=Connector.Kind.SANDBOX))
    assert not list((tmp_path / "sandbox_payer").rglob("inbox/*.x12")), "answers are in the ledger"


def test_submit_claims_out_writes_files_only_the_hub_can_read(tmp_path):
    v = b.visit()
    encounter_document(doc=b.documentation(v))

    claims_submit(out_dir=tmp_path / "out")

    (written,) = (tmp_path / "out").iterdir()
    assert written.stat().st_mode & 0o777 == 0o600
