"""Reads for scheduling: the slot finder, waitlist matches, appointments and history.

Split by question (slot search, the slot read under it, waitlist matches, appointments
and a patient's history); callers import every public name from ``scheduling.selectors``.
"""

from __future__ import annotations

from .access import (
    appointments_in_scope,
    patient_in_scope,
    patients_in_scope,
    scoped_region_id,
)
from .agent_work import (
    agent_live_hold,
    agent_open_call,
    agent_recent_abandoned_call,
    calls_open_past_limit,
)
from .agents import home_region_id
from .appointments import (
    appointment_by_external_id,
    overbookable_slots,
    patient_appointments,
    patient_locations_seen,
)
from .booking_rules import slot_network_reasons
from .callbacks import callbacks_due
from .referrals import referrals_of_patient, referrals_waiting
from .slot_reads import EPOCH, SlotRow
from .slot_results import DayGroup, Excluded, SlotOption, SlotSearchResult
from .slot_search import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    NOWHERE,
    slot_search,
)
from .waitlist import (
    WaitlistMatch,
    waitlist_matches_for_slot,
    waitlist_matches_for_slots,
    waitlist_matches_recently_freed,
    waitlist_open_for_patient,
)

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "EPOCH",
    "MAX_WINDOW_DAYS",
    "NOWHERE",
    "DayGroup",
    "Excluded",
    "SlotOption",
    "SlotRow",
    "SlotSearchResult",
    "WaitlistMatch",
    "agent_live_hold",
    "agent_open_call",
    "agent_recent_abandoned_call",
    "appointment_by_external_id",
    "appointments_in_scope",
    "callbacks_due",
    "calls_open_past_limit",
    "home_region_id",
    "overbookable_slots",
    "patient_appointments",
    "patient_in_scope",
    "patient_locations_seen",
    "patients_in_scope",
    "referrals_of_patient",
    "referrals_waiting",
    "scoped_region_id",
    "slot_network_reasons",
    "slot_search",
    "waitlist_matches_for_slot",
    "waitlist_matches_for_slots",
    "waitlist_matches_recently_freed",
    "waitlist_open_for_patient",
]
