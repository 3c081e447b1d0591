"""The callback worklist: what an agent owes, soonest due first."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from ..models import Callback

WORKLIST_SIZE = 20


def callbacks_due(*, agent: AbstractBaseUser | AnonymousUser) -> list[Callback]:
    """Open callbacks the agent owes or any agent may take, ordered by due time (overdue
    first), at most ``WORKLIST_SIZE``."""
    return list(
        Callback.objects.filter(status=Callback.Status.OPEN)
        .filter(Q(assigned_to_id=agent.pk) | Q(assigned_to__isnull=True))
        .select_related("patient", "assigned_to")
        .order_by("due_at", "pk")[:WORKLIST_SIZE]
    )
