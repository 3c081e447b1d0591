from __future__ import annotations

from auditlog.registry import auditlog

from .models import Appointment, Call, Callback, Waitlist

auditlog.register(Appointment)
auditlog.register(Call)
auditlog.register(Callback)
auditlog.register(Waitlist, m2m_fields={"providers", "locations"})
