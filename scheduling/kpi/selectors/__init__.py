"""KPI reads for access, accuracy and capacity, aggregated in the database.

Every metric is computed for the selected period and the previous period of equal length
in ONE query: the rows of both periods are selected by an index range scan and split by
conditional aggregates (``Count(..., filter=...)``). No selector loops over rows in Python.
One module per metric family; ``scoping`` holds the filters and period tests they share.
"""

from __future__ import annotations

from .access import AUTOMATED_CHANNELS, AccessSummary, access_metrics, access_summary, booking_q
from .accuracy import (
    MISMATCH_Q,
    AccuracySummary,
    accuracy_metrics,
    accuracy_summary,
    with_mismatch_flags,
    wrong_location_q,
)
from .calls import (
    CALL_DURATION,
    FCR_ELIGIBLE,
    FCR_WINDOW,
    UNRESOLVED_OUTCOMES,
    callback_exists,
    fcr_groups,
)
from .capacity import (
    DEF_TNA,
    SCHEDULE_FILL_DAYS,
    ThirdAvailable,
    capable_providers,
    capacity_metrics,
    schedule_fill_by_day,
    schedule_fill_window,
    third_next_available,
    utilization_by_day,
    utilization_by_location,
    utilization_by_provider,
)
from .scoping import (
    appointments_scoped,
    calls_scoped,
    holds_scoped,
    in_both,
    in_current,
    in_period,
    in_previous,
    region_locations,
    scoped,
    slots_scoped,
    waitlist_scoped,
)

__all__ = [
    "AUTOMATED_CHANNELS",
    "CALL_DURATION",
    "DEF_TNA",
    "FCR_ELIGIBLE",
    "FCR_WINDOW",
    "MISMATCH_Q",
    "SCHEDULE_FILL_DAYS",
    "UNRESOLVED_OUTCOMES",
    "AccessSummary",
    "AccuracySummary",
    "ThirdAvailable",
    "access_metrics",
    "access_summary",
    "accuracy_metrics",
    "accuracy_summary",
    "appointments_scoped",
    "booking_q",
    "callback_exists",
    "calls_scoped",
    "capable_providers",
    "capacity_metrics",
    "fcr_groups",
    "holds_scoped",
    "in_both",
    "in_current",
    "in_period",
    "in_previous",
    "region_locations",
    "schedule_fill_by_day",
    "schedule_fill_window",
    "scoped",
    "slots_scoped",
    "third_next_available",
    "utilization_by_day",
    "utilization_by_location",
    "utilization_by_provider",
    "waitlist_scoped",
    "with_mismatch_flags",
    "wrong_location_q",
]
