"""Billing's KPI page (revenue-cycle metrics and their drill-downs).

Importing the package registers the page with ``scheduling.kpi.registry``; BillingConfig.ready
does, so the registry is complete before the first request.
"""

from __future__ import annotations

from . import pages  # noqa: F401  (registers the revenue section and its drill-downs)
