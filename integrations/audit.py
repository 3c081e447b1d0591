from __future__ import annotations

from auditlog.registry import auditlog

from .models import Connector, Message, TelephonyEvent

# The raw payload is PHI: changes to ledger rows are audited without copying it.
auditlog.register(Message, exclude_fields=["raw", "ack_raw"])
auditlog.register(Connector)
# Telephony events carry caller numbers: audited like the message ledger, payload aside.
auditlog.register(TelephonyEvent, exclude_fields=["payload"])
