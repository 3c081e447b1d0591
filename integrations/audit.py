from __future__ import annotations

from auditlog.registry import auditlog

from .models import Connector, Message

# The raw payload is PHI: changes to ledger rows are audited without copying it.
auditlog.register(Message, exclude_fields=["raw", "ack_raw"])
auditlog.register(Connector)
