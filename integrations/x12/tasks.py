"""Celery tasks for the clearinghouse: take ids, call one service, safe to run twice.

The beat schedule (``config/celery.py``) names them by this module's path."""

from __future__ import annotations

from celery import shared_task

from integrations.models import Connector

from .clearinghouse import clearinghouse_collect, x12_message_replay, x12_replays_due
from .inquiry import eligibility_batch_send, eligibility_checks_send
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


@shared_task(
    acks_late=True,
    time_limit=6 * 3600,
    soft_time_limit=6 * 3600 - 60,
)
def eligibility_batch_task(days: int | None = None) -> dict[str, int]:
    run = eligibility_batch_send(days=days)
    return {"run": run.pk, "checked": run.checked, "errors": run.errors}


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
