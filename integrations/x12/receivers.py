"""The clearinghouse side's reactions to billing events (billing never imports it).

``eligibility_checks_requested`` is sent inside the transaction that created the
checks; the 270 is queued only after that transaction commits, so a rolled-back hold
never reaches a payer and a slow payer never holds a lock.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from billing.signals import eligibility_checks_requested

from .tasks import eligibility_check_send_task

log = logging.getLogger(__name__)


def _queue_checks(check_ids: list[int]) -> None:
    for check_id in check_ids:
        try:
            eligibility_check_send_task.delay(check_id)
        except Exception:
            # The booking has committed; a broker hiccup must not turn it into an error
            # page. The check stays pending and the nightly batch picks the visit up.
            log.warning("eligibility check %s could not be queued", check_id, exc_info=True)


@receiver(eligibility_checks_requested, dispatch_uid="integrations.x12.send_eligibility_checks")
def eligibility_checks_send_on_commit(sender: Any, check_ids: list[int], **_: Any) -> None:
    ids = list(check_ids)
    transaction.on_commit(lambda: _queue_checks(ids))
