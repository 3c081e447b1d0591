"""Reads for scheduling: the slot finder and the waitlist matches for freed slots.

Split by question (slot search, the slot read under it, waitlist matches, single
appointments); callers import every public name from ``scheduling.selectors`` as before.
"""

from __future__ import annotations

from .appointments import appointment_by_external_id
from .booking_rules import slot_network_reasons
from .slot_reads import EPOCH, SlotRow
from .slot_search import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    NOWHERE,
    DayGroup,
    Excluded,
    SlotOption,
    SlotSearchResult,
    home_region_id,
    slot_search,
)
from .waitlist import WaitlistMatch, waitlist_matches_for_slot, waitlist_matches_for_slots

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
    "appointment_by_external_id",
    "home_region_id",
    "slot_network_reasons",
    "slot_search",
    "waitlist_matches_for_slot",
    "waitlist_matches_for_slots",
]
