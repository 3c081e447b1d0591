"""Polling every FHIR source, with each connector's outcome kept for the health page."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db.models import F
from django.utils import timezone

from ..models import Connector, PollHealth
from ..transports import TransportError
from .client import fhir_poll

logger = logging.getLogger(__name__)


def poll_record(*, connector: Connector, error: str = "") -> None:
    """Record one poll's outcome: a success (``error`` empty) or a failure with its reason."""
    now = timezone.now()
    PollHealth.objects.get_or_create(connector=connector)
    if error:
        PollHealth.objects.filter(connector=connector).update(
            last_failure_at=now,
            last_error=error[:300],
            consecutive_failures=F("consecutive_failures") + 1,
        )
    else:
        PollHealth.objects.filter(connector=connector).update(
            last_success_at=now, consecutive_failures=0
        )


def fhir_poll_all(*, client_for: Callable[[Connector], Any] | None = None) -> int:
    """Poll every enabled inbound FHIR connector and sandbox EHR; returns how many
    resources were stored anew. A connector that cannot be read is recorded as failing
    and the others are still polled; its cursor has not moved, so the next successful
    poll catches up."""
    from ..sandbox.ehr import SandboxFhirClient

    fhir = Connector.objects.filter(kind=Connector.Kind.FHIR_R4, enabled=True).exclude(
        direction=Connector.Direction.OUTBOUND
    )
    sandboxes = Connector.objects.filter(
        kind=Connector.Kind.SANDBOX, role=Connector.Role.LOCATION_EHR, enabled=True
    )
    stored = 0
    for connector in [*fhir, *sandboxes]:
        if client_for is not None:
            client = client_for(connector)
        elif connector.kind == Connector.Kind.SANDBOX:
            client = SandboxFhirClient(connector)
        else:
            client = None
        try:
            stored += sum(fhir_poll(connector, client=client).values())
        except TransportError as exc:
            # The error text can quote the server's answer; the health page shows it.
            logger.warning("FHIR poll of connector %s failed: %s", connector.pk, type(exc).__name__)
            poll_record(connector=connector, error=str(exc) or type(exc).__name__)
            continue
        poll_record(connector=connector)
    return stored
