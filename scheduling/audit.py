from __future__ import annotations

from auditlog.registry import auditlog

from .models import Appointment, Call, Callback, Referral, Waitlist

auditlog.register(Appointment)
auditlog.register(Call)
auditlog.register(Callback)
auditlog.register(Referral)
auditlog.register(Waitlist, m2m_fields={"providers", "locations"})
