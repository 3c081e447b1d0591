"""Celery tasks for the clearinghouse: take ids, call one service, safe to run twice.

The beat schedule (``config/celery.py``) names them by this module's path."""

from __future__ import annotations

from celery import shared_task

from billing.eligibility_batch import (
    eligibility_batch_plan,
    eligibility_batch_tally,
    eligibility_chunk_wait,
)
from integrations.models import Connector

from .clearinghouse import clearinghouse_collect, x12_message_replay, x12_replays_due
from .inquiry import eligibility_checks_send
from .submission import claims_submit
from .transport import TransportError


@shared_task(
    acks_late=True,
    autoretry_for=(TransportError,),
    retry_backoff=True,
    # Below the broker's visibility timeout (settings), or the retry would run twice.
    retry_backoff_max=600,
    max_retries=5,
)
def eligibility_check_send_task(check_id: int) -> dict[str, int]:
    """Send one pending check; a check already answered is skipped (idempotent)."""
    result = eligibility_checks_send(check_ids=[check_id])
    return {"sent": result.sent, "answered": result.answered, "failed": result.failed}


@shared_task(acks_late=True)
def eligibility_batch_task(days: int | None = None) -> dict[str, int]:
    """Plan the nightly run and queue one task per payer chunk; the chunks pace
    themselves on the payers' shared budgets, so any number of workers share the work."""
    run, chunks = eligibility_batch_plan(days=days)
    for chunk in chunks:
        eligibility_batch_chunk_task.delay(run.pk, chunk.payer_id, chunk.check_ids)
    return {"run": run.pk, "chunks": len(chunks)}


@shared_task(acks_late=True)
def x12_inbound_replay_task(message_id: int) -> str:
    """Process again one inbound X12 row put back by admin replay (idempotent)."""
    return x12_message_replay(message_id=message_id)


@shared_task(acks_late=True)
def clearinghouse_collect_task() -> int:
    """Pick up 271/999/277CA/835 files from every clearinghouse inbox, and any replayed
    file whose task was lost (the broker was down when admin replayed it)."""
    handled = 0
    for message_id in x12_replays_due():
        x12_message_replay(message_id=message_id)
        handled += 1
    for connector in Connector.objects.filter(
        role=Connector.Role.CLEARINGHOUSE,
        enabled=True,
        kind__in=[Connector.Kind.SANDBOX, Connector.Kind.X12_MAILBOX],
    ):
        handled += len(clearinghouse_collect(connector=connector))
    return handled


@shared_task(acks_late=True)
def claims_submit_task() -> int:
    return sum(b.claims for b in claims_submit().written)


@shared_task(
    acks_late=True,
    autoretry_for=(TransportError,),
    retry_backoff=True,
    max_retries=5,
)
def eligibility_batch_chunk_task(
    run_id: int, payer_id: int, check_ids: list[int]
) -> dict[str, int]:
    """Send one payer chunk of a nightly run when the payer's shared budget allows.

    Over budget, the chunk goes back on the queue to run when the window has room, and
    the worker moves on to other work. Sending twice sends nothing more (the checks are
    claimed); a redelivery may spend budget it does not use, never more than the limit.
    """
    wait = eligibility_chunk_wait(payer_id=payer_id, cost=len(check_ids))
    if wait:
        eligibility_batch_chunk_task.apply_async((run_id, payer_id, check_ids), countdown=wait)
        return {"sent": 0, "requeued": 1}
    result = eligibility_checks_send(check_ids=check_ids)
    eligibility_batch_tally(run_id=run_id)
    return {"sent": result.sent, "requeued": 0}
