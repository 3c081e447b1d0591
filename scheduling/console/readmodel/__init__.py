"""The console's read model: the patient reads (search, context) and the panels built
from them. The one place in scheduling that reads billing, through its selectors."""

from __future__ import annotations

from .panels import PANELS, TEMPLATE, Panels
from .patient import (
    PAST_APPOINTMENTS_SHOWN,
    CoverageView,
    PatientContext,
    SearchResults,
    patient_context,
    patient_search,
    patient_search_again,
    patient_search_results,
    patient_time_zone,
)

__all__ = [
    "PANELS",
    "PAST_APPOINTMENTS_SHOWN",
    "TEMPLATE",
    "CoverageView",
    "Panels",
    "PatientContext",
    "SearchResults",
    "patient_context",
    "patient_search",
    "patient_search_again",
    "patient_search_results",
    "patient_time_zone",
]
