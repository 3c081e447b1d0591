"""Location equipment and rooms: the visit and the patient's clinical needs fit the site.

Equipment comes from two places: the appointment type (Implant consult needs a CBCT) and
the patient's active clinical needs synced from the EHRs (a wheelchair-accessible
operatory). Reasons name the equipment but never the patient's condition.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .base import (
    PASS,
    Candidate,
    Kind,
    Names,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    Verdict,
    exclude,
    human_list,
)


def required_equipment(ctx: RuleContext) -> frozenset[str]:
    return ctx.appointment_type.equipment | ctx.patient.needs_equipment


# What a location lacks, worded, by everything the wording reads: the same for every
# search of a visit type by patients with the same recorded needs, and a network-wide
# search names a dozen locations' missing equipment. The display names are keyed by
# identity (a search's come from its network snapshot, which never changes them) and
# kept in the entry, so an id is not reused while its entry stands.
_lacking: dict[tuple[Any, ...], tuple[Names, Verdict]] = {}


class LocationEquipmentRule(Rule):
    key = "location-equipment"
    kind = Kind.HARD
    scope = Scope.LOCATION
    description = "The location has the equipment the visit type and the patient's needs require."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        loc, visit, needs = cand.location, ctx.appointment_type, ctx.patient.needs_equipment
        has = loc.equipment
        if visit.equipment <= has and needs <= has:
            return PASS  # most locations for most visits: nothing to name
        key = (id(ctx.names), loc.name, has, visit.name, visit.equipment, needs)
        known = _lacking.get(key)
        if known is not None and known[0] is ctx.names:
            return known[1]
        verdict = self._lacks(ctx, cand)
        if len(_lacking) >= 4096:
            _lacking.clear()
        _lacking[key] = (ctx.names, verdict)
        return verdict

    def _lacks(self, ctx: RuleContext, cand: Candidate) -> Verdict:
        loc = cand.location
        for_type = sorted(ctx.appointment_type.equipment - loc.equipment)
        for_needs = sorted(ctx.patient.needs_equipment - loc.equipment - set(for_type))
        if not for_type and not for_needs:
            return PASS
        parts = []
        if for_type:
            names = human_list([ctx.names.equipment_name(c) for c in for_type])
            parts.append(f"{loc.name} has no {names}, which {ctx.appointment_type.name} needs")
        if for_needs:
            names = human_list([ctx.names.equipment_name(c) for c in for_needs])
            parts.append(
                f"{loc.name} has no {names}, which the patient's recorded care needs require"
            )
        return exclude("; ".join(parts))

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        for_type, for_needs = ctx.appointment_type.equipment, ctx.patient.needs_equipment
        out = [
            i
            for i, cand in enumerate(cands)
            if not (for_type <= (has := cand.location.equipment) and for_needs <= has)
        ]
        return self.evaluate_at(ctx, cands, config, out)


class LocationRoomRule(Rule):
    key = "location-room"
    kind = Kind.HARD
    scope = Scope.LOCATION
    description = "One room at the location holds all the required equipment together."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        loc = cand.location
        if not loc.rooms:
            return PASS
        needed = required_equipment(ctx)
        # A location that does not model rooms is judged on its equipment alone; one with
        # equipment spread over rooms must have a single room that has it all.
        if not loc.rooms or not needed or not needed <= loc.equipment:
            return PASS
        if any(needed <= room for room in loc.rooms):
            return PASS
        names = human_list([ctx.names.equipment_name(c) for c in sorted(needed)])
        return exclude(f"{loc.name} has no single room equipped with {names}")

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        needed = required_equipment(ctx)
        if not needed:
            return []
        out = [
            i
            for i, cand in enumerate(cands)
            if cand.location.rooms and needed <= cand.location.equipment
        ]
        return self.evaluate_at(ctx, cands, config, out)
