"""The callback worklist: what an agent owes, soonest due first."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from config.compiled import Compiled, stand_in_id

from ..models import Callback

WORKLIST_SIZE = 20


def callbacks_due(*, agent: AbstractBaseUser | AnonymousUser) -> list[Callback]:
    """Open callbacks the agent owes or any agent may take, ordered by due time (overdue
    first), at most ``WORKLIST_SIZE``."""
    if agent.pk is None:
        return list(_due(None))
    return _due_for.rows(agent_id=agent.pk)


def _due(agent_id: int | None) -> QuerySet[Callback]:
    return (
        Callback.objects.filter(status=Callback.Status.OPEN)
        .filter(Q(assigned_to_id=agent_id) | Q(assigned_to__isnull=True))
        .select_related("patient", "assigned_to")
        .order_by("due_at", "pk")[:WORKLIST_SIZE]
    )


# Every worklist poll reads it: compiled once per connection (config.compiled).
_due_for: Compiled[Callback] = Compiled(
    _due,
    agent_id=stand_in_id(),
)
