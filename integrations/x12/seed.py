"""Demo clearinghouse traffic for ``seed_demo``: a sandbox clearinghouse per payer, the
270s for the checks billing's seed left pending, two thirds of the ready claims out as
837P with their 835s picked up, and a nightly eligibility batch, so every claim state
is on screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

from billing.eligibility_batch import Throttle
from billing.models import Claim, EligibilityCheck, Payer
from integrations.models import Connector

from .clearinghouse import clearinghouse_collect
from .inquiry import eligibility_batch_send, eligibility_checks_send
from .submission import claims_submit


def _connectors() -> list[Connector]:
    out = []
    for payer in Payer.objects.all():
        connector, _ = Connector.objects.get_or_create(
            name=f"Sandbox clearinghouse: {payer.name}",
            defaults={
                "kind": Connector.Kind.SANDBOX,
                "role": Connector.Role.CLEARINGHOUSE,
                "payer": payer,
                "endpoint": str(Path(settings.VAR_DIR) / "sandbox_payer" / payer.payer_code),
                "message_types": ["270", "837P"],
            },
        )
        out.append(connector)
    return out


def clearinghouse_seed(context: Any) -> str:
    connectors = _connectors()
    pending = EligibilityCheck.objects.filter(
        status=EligibilityCheck.Status.PENDING, sent_at__isnull=True
    ).values_list("pk", flat=True)
    eligibility_checks_send(check_ids=list(pending))
    # Submit two thirds through the sandbox clearinghouses and pick up their 835s; the
    # rest stay ready for the next run.
    ready = list(Claim.objects.filter(status=Claim.Status.READY).values_list("pk", flat=True))
    submitted = claims_submit(claim_ids=ready[: len(ready) * 2 // 3])
    for connector in connectors:
        clearinghouse_collect(connector=connector)
    run = eligibility_batch_send(
        days=settings.ELIGIBILITY_BATCH_DAYS, throttle=Throttle(sleep=lambda _s: None)
    )
    sent = sum(b.claims for b in submitted.written)
    return (
        f"{len(connectors)} sandbox clearinghouses, {sent} claims through 837P/835, "
        f"{run.checked} eligibility checks"
    )
