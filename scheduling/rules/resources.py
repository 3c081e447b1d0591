"""Visits that need more than a provider: a second staff member (a hygienist or an
assistant with their own slots), a free room with the equipment, a piece of mobile
equipment shared between locations. Every one must be free for the whole visit.

The facts come from ``RuleContext.resources`` (read once per search); without them the
rules pass, and booking takes the resources under locks and refuses with its own error.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


class LocationResourcesRule(Rule):
    key = "location-resources"
    kind = Kind.HARD
    scope = Scope.LOCATION
    description = (
        "The location has the second staff member and the mobile equipment the visit needs."
    )

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        return ctx.resources is not None

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        res, visit, loc = ctx.resources, ctx.appointment_type, cand.location
        if res is None:
            return PASS
        if visit.assistant_capability and not res.staff_at.get(loc.id):
            staff = ctx.names.capability_name(visit.assistant_capability)
            return exclude(f"{loc.name} has no {staff} staff member, whom {visit.name} needs")
        if visit.mobile_equipment and loc.id not in res.equipment_at:
            return exclude(
                f"The {res.equipment_name} that {visit.name} needs does not serve {loc.name}"
            )
        return PASS


class SlotResourcesRule(Rule):
    key = "slot-resources"
    kind = Kind.HARD
    scope = Scope.SLOT
    description = (
        "A second staff member, a fitting room and the mobile equipment are free for the "
        "whole visit."
    )

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        res, visit, loc, slot = ctx.resources, ctx.appointment_type, cand.location, cand.slot
        if res is None or slot is None:
            return PASS
        start, end = slot.start, slot.end
        if visit.assistant_capability:
            lead = cand.provider.id if cand.provider is not None else None
            if not any(
                pid != lead and lo <= start and hi >= end
                for pid, lo, hi in res.staff_free.get(loc.id, ())
            ):
                staff = ctx.names.capability_name(visit.assistant_capability)
                return exclude(f"No {staff} staff member is free at {loc.name} for the whole visit")
        rooms = res.rooms.get(loc.id)
        if rooms is not None and not any(
            not any(lo < end and hi > start for lo, hi in busy) for busy in rooms
        ):
            return exclude(f"No room equipped for {visit.name} is free at {loc.name} then")
        if visit.mobile_equipment and any(lo < end and hi > start for lo, hi in res.equipment_busy):
            return exclude(f"The {res.equipment_name} is booked elsewhere then")
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        if ctx.resources is None:  # passes every start, as evaluate does
            return []
        return super().evaluate_many(ctx, cands, config)
