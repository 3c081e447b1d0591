"""Celery tasks: thin, idempotent, taking keys and ids. The work lives in the modules."""

from __future__ import annotations

from celery import shared_task

from . import inbound


@shared_task(acks_late=True)
def inbound_drain_task(keys: list[str]) -> int:
    """Apply pending inbound messages for these patient keys, FIFO within each key."""
    return inbound.inbound_drain_keys(keys)


@shared_task(acks_late=True)
def inbound_sweep_task() -> int:
    """Catch messages whose task was lost (broker down at commit) and retries now due."""
    return inbound.inbound_drain_keys(inbound.inbound_due_keys())


@shared_task(acks_late=True)
def outbox_relay_task() -> dict[str, int]:
    """Fan pending outbox events out to connectors and deliver what is due."""
    from .outbox import relay_run_starting
    from .relay import outbox_relay

    # Before the first read: a commit after this point kicks again (integrations.outbox).
    relay_run_starting()
    return outbox_relay()


@shared_task(acks_late=True)
def sandbox_tick_task() -> dict[str, int]:
    """A minute of life at the sandbox locations: front-desk bookings, visit documentation."""
    from .sandbox.feed import sandbox_tick

    return sandbox_tick()


@shared_task(acks_late=True)
def fhir_poll_task() -> dict[str, int]:
    """Poll every enabled FHIR connector for changes, then apply what was stored.
    Failures are recorded per connector (integration health), not raised."""
    from .fhir.polling import fhir_poll_all

    stored = fhir_poll_all()
    inbound_sweep_task.delay()
    return {"stored": stored}


@shared_task(acks_late=True)
def telephony_sweep_task() -> int:
    """Apply telephony events stored but not applied (a crash between the two)."""
    from .telephony.ledger import telephony_sweep

    return telephony_sweep()
