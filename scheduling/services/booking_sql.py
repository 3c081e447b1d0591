"""The booking's statements of one fixed shape, compiled once (``config.compiled``).

Every API and console booking runs these; building and compiling them through the ORM
cost more CPU than PostgreSQL spent answering them. Each is the queryset the service
would otherwise run, so the locks, rows and counts are the same.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, DateTimeField, Exists, Q, QuerySet, Value, When

from config.compiled import (
    Compiled,
    CompiledByLength,
    CompiledUpdate,
    stand_in_id,
    stand_in_moment,
)
from patients.models import Patient

from ..models import Hold, Slot
from ..selectors.holds import live_holds, open_holds


def _hold_locked(pk: int, slot_ids: list[int], by_id: int, now: datetime) -> QuerySet[Hold]:
    # ``other_held``: another agent's live hold sits on one of the (already locked) units.
    others = live_holds(now).filter(slot_id__in=slot_ids).exclude(held_by_id=by_id)
    return (
        Hold.objects.select_for_update(of=("self",))
        .annotate(other_held=Exists(others))
        .filter(pk=pk)
        .order_by("pk")[:1]
    )


hold_locked: CompiledByLength[Hold] = CompiledByLength(
    _hold_locked, "slot_ids", pk=stand_in_id(), by_id=stand_in_id(), now=stand_in_moment()
)

patient_locked: Compiled[int] = Compiled(
    lambda pk: Patient.objects.select_for_update().filter(pk=pk).values_list("pk", flat=True),
    pk=stand_in_id(),
)

slots_booked: CompiledByLength[int] = CompiledByLength(
    lambda slot_ids: (Slot.objects.filter(pk__in=slot_ids), {"status": Slot.Status.BOOKED}),
    "slot_ids",
    kind=CompiledUpdate,
)


def _holds_consume(
    slot_ids: list[int], by_id: int, hold_id: int, now: datetime
) -> tuple[QuerySet[Hold], dict[str, Any]]:
    # An open row is either one of this agent's on a taken unit (consumed) or a
    # companion of the booked hold (released).
    mine = Q(slot_id__in=slot_ids, held_by_id=by_id)
    stamp = Value(now, output_field=DateTimeField())
    return open_holds().filter(mine | Q(companion_of_id=hold_id)), {
        "consumed_at": Case(When(mine, then=stamp), default=None),
        "released_at": Case(When(mine, then=None), default=stamp),
    }


holds_consume: CompiledByLength[int] = CompiledByLength(
    _holds_consume,
    "slot_ids",
    kind=CompiledUpdate,
    by_id=stand_in_id(),
    hold_id=stand_in_id(),
    now=stand_in_moment(),
)
