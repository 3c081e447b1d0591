from __future__ import annotations

from auditlog.registry import auditlog

from .models import Appointment, Call, Callback, Waitlist

auditlog.register(Appointment)
auditlog.register(Call)
auditlog.register(Callback)
auditlog.register(Waitlist, m2m_fields={"providers", "locations"})
from .models import ReminderCadence, ReplyReview, WaitlistOffer  # noqa: E402

auditlog.register(ReminderCadence)
# The text itself is PHI; the audit trail records that the row changed, not what it says.
auditlog.register(ReplyReview, exclude_fields=["body", "phone"])
auditlog.register(WaitlistOffer)
