from __future__ import annotations

from auditlog.registry import auditlog

from .models import Appointment, Call, Callback, HubCall, Referral, Waitlist

auditlog.register(Appointment)
auditlog.register(Call)
auditlog.register(Callback)
auditlog.register(Referral)
auditlog.register(Waitlist, m2m_fields={"providers", "locations"})
# The caller's number is PHI; the call's routing changes are audited without copying it.
auditlog.register(HubCall, exclude_fields=["caller_phone"])

from .models import RecallOutreach, ReminderCadence, ReplyReview, WaitlistOffer  # noqa: E402

auditlog.register(ReminderCadence)
# The text itself is PHI; the audit trail records that the row changed, not what it says.
auditlog.register(ReplyReview, exclude_fields=["body", "phone"])
auditlog.register(WaitlistOffer)
auditlog.register(RecallOutreach)

from .models import LocationClosure, RebookingItem, ScheduleTemplate, TimeOff  # noqa: E402

# Schedule changes entered on the schedule-changes page, and the worklist they produce.
auditlog.register(TimeOff)
auditlog.register(LocationClosure)
auditlog.register(ScheduleTemplate)
auditlog.register(RebookingItem)

from .models import MobileEquipment, ResourceBooking  # noqa: E402

auditlog.register(MobileEquipment, m2m_fields={"serves"})
auditlog.register(ResourceBooking)
