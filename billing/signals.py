"""Billing events the clearinghouse side reacts to without billing importing it.

Sent from inside the service's transaction; a receiver that calls a payer must defer
the call with ``transaction.on_commit``, so a rolled-back hold never reaches a payer and
a slow payer never holds a lock.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: check_ids (list[int]), new PENDING billing.EligibilityCheck rows that need a 270.
eligibility_checks_requested = Signal()
