"""What the sandbox locations send the hub, minute by minute: front-desk bookings and visit
documentation from each sandbox PMS, FHIR changes from each sandbox EHR.

It goes through the hub's normal inbound path, exactly as the MLLP listener hands it
over: stored in the ledger, then queued for the workers.
"""

from __future__ import annotations

import random
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from integrations.inbound import inbound_drain_keys
from integrations.ledger import inbound_store_batch
from integrations.mllp.server import dispatch_to_workers
from integrations.models import Connector

from .ehr import sandbox_ehr_tick
from .system import SandboxPMS


def sandbox_send(connector: Connector, raws: list[str]) -> list[str]:
    """Hand what the sandbox sends to the hub's inbound path, like the MLLP listener does:
    store in the ledger, then let the workers apply it. Returns the ACK codes."""
    if not raws:
        return []
    stored = inbound_store_batch(raws)
    keys = list(dict.fromkeys(s.ordering_key for s in stored if s.message_id is not None))
    if keys:

        def dispatch() -> None:
            try:
                dispatch_to_workers(keys)
            except Exception:  # broker down: apply them here rather than wait for the sweep
                inbound_drain_keys(keys)

        transaction.on_commit(dispatch)
    return [s.ack_code for s in stored]


def sandbox_tick(
    *, now: datetime | None = None, seed: int | None = None, booking_chance: float = 0.3
) -> dict[str, int]:
    """One minute of life at every sandbox location: maybe a front-desk booking, and the
    documentation of visits whose time has passed."""
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 (simulation, not security)
    sent = 0
    sandbox_ehr_tick(now=now)
    for connector in Connector.objects.filter(
        kind=Connector.Kind.SANDBOX,
        role=Connector.Role.LOCATION_PMS,
        enabled=True,
        location__isnull=False,
    ):
        pms = SandboxPMS(connector)
        raws: list[str] = []
        if rng.random() < booking_chance:
            raws += pms.front_desk_booking(rng=rng, now=now)
        raws += pms.document_due(rng=rng, now=now)
        sent += len(sandbox_send(connector, raws))
    return {"sent": sent}
