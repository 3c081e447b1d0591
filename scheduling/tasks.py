from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def slots_materialize_task(provider_ids: list[int] | None = None) -> dict[str, int]:
    result = services.slots_materialize(provider_ids=provider_ids)
    return {"created": result.created, "removed": result.removed, "kept": result.kept}


@shared_task(acks_late=True)
def hold_expire_stale_task() -> int:
    return services.hold_expire_stale()
