"""Celery re-runs (acks_late redelivery, a retry, a second beat) must not send twice."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.utils import timezone

from billing.models import Claim, ClaimBatch, EligibilityCheck
from billing.services import encounter_document
from integrations.models import Connector, Message
from integrations.x12.tasks import claims_submit_task, eligibility_check_send_task
from tests.billing import builders as b


def _mailbox(tmp_path) -> Connector:
    # A mailbox clearinghouse answers later (or never, here): the check stays pending,
    # which is exactly when a re-run could send a second 270 without the claim on sent_at.
    return Connector.objects.create(
        name="Clearinghouse SFTP",
        kind=Connector.Kind.X12_MAILBOX,
        role=Connector.Role.CLEARINGHOUSE,
        endpoint=str(tmp_path / "mbox"),
    )


def _sent_270s(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "mbox" / "outbox").glob("270_*"))


@pytest.mark.django_db
def test_a_rerun_before_the_answer_sends_no_second_270(tmp_path):
    v = b.visit()
    _mailbox(tmp_path)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())

    first = eligibility_check_send_task.apply(args=[check.pk]).get()
    second = eligibility_check_send_task.apply(args=[check.pk]).get()

    assert first["sent"] == 1 and second["sent"] == 0
    assert len(_sent_270s(tmp_path)) == 1
    assert Message.objects.filter(direction="out", message_type="270").count() == 1
    check.refresh_from_db()
    assert check.status == EligibilityCheck.Status.PENDING and check.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_one_270(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serializes them)")
    v = b.visit()
    _mailbox(tmp_path)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker():
        try:
            start.wait()
            results.append(eligibility_check_send_task.apply(args=[check.pk]).get())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(r["sent"] for r in results) == [0, 1]
    assert len(_sent_270s(tmp_path)) == 1


@pytest.mark.django_db
def test_a_transient_transport_error_leaves_the_check_for_the_retry(tmp_path, monkeypatch):
    from integrations.x12 import transport

    v = b.visit()
    _mailbox(tmp_path)
    check = EligibilityCheck.objects.create(coverage=v.coverage, requested_at=timezone.now())
    real_submit = transport.MailboxTransport.submit

    def down(self, *, name, payload):
        raise transport.TransportError("mailbox unreachable", permanent=False)

    monkeypatch.setattr(transport.MailboxTransport, "submit", down)
    from integrations.x12.inquiry import eligibility_checks_send

    with pytest.raises(transport.TransportError):
        eligibility_checks_send(check_ids=[check.pk])
    check.refresh_from_db()
    assert check.sent_at is None  # released, so the retry is not a silent no-op

    monkeypatch.setattr(transport.MailboxTransport, "submit", real_submit)
    assert eligibility_checks_send(check_ids=[check.pk]).sent == 1
    assert len(_sent_270s(tmp_path)) == 1


@pytest.mark.django_db
def test_claim_submission_run_twice_writes_one_837p(tmp_path):
    v = b.visit()
    _mailbox(tmp_path)
    encounter_document(doc=b.documentation(v))

    assert claims_submit_task.apply().get() == 1
    assert claims_submit_task.apply().get() == 0

    assert ClaimBatch.objects.count() == 1
    assert len(list((tmp_path / "mbox" / "outbox").glob("837P_*"))) == 1
    assert Claim.objects.get().history.filter(status=Claim.Status.SUBMITTED).count() == 1
