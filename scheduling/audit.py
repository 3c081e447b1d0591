from __future__ import annotations

from auditlog.registry import auditlog

from .models import Appointment, Call, Waitlist

auditlog.register(Appointment)
auditlog.register(Call)
auditlog.register(Waitlist, m2m_fields={"providers", "locations"})
