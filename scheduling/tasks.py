from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from . import services
from .selectors import calls_open_past_limit


@shared_task(acks_late=True)
def slots_materialize_task(provider_ids: list[int] | None = None) -> dict[str, int]:
    result = services.slots_materialize(provider_ids=provider_ids)
    return {"created": result.created, "removed": result.removed, "kept": result.kept}


@shared_task(acks_late=True)
def hold_expire_stale_task() -> int:
    return services.hold_expire_stale()


@shared_task(acks_late=True)
def calls_abandon_stale_task() -> int:
    """Beat: queue one abandon per call left open past the limit."""
    ids = calls_open_past_limit(now=timezone.now())
    for call_id in ids:
        call_abandon_task.delay(call_id)
    return len(ids)


@shared_task(acks_late=True)
def call_abandon_task(call_id: int) -> bool:
    """Idempotent: a call already ended (wrapped up, or abandoned by an earlier run) is
    left as it is."""
    return services.call_abandon(call_id=call_id)


@shared_task(acks_late=True)
def hub_queue_sweep_task() -> int:
    """Beat: overflow and callback offers come due by the clock, not by an event."""
    return services.hub_queue_sweep()


@shared_task(acks_late=True)
def reminders_run_task() -> int:
    """Beat: queue the reminders due now (idempotent: each is queued once)."""
    from .engagement.reminders import reminders_run

    return reminders_run()


@shared_task(acks_late=True)
def waitlist_offers_task() -> dict[str, int]:
    """Beat: lapse stale offers, then offer freed time to waiting patients by text."""
    from .engagement.offers import waitlist_offers_expire, waitlist_offers_send

    return {"expired": waitlist_offers_expire(), "offered": waitlist_offers_send()}


@shared_task(acks_late=True)
def recall_run_task() -> int:
    """Beat: contact patients due for recall (each due visit once, paced per location)."""
    from .engagement.recall import recall_run

    return recall_run()
