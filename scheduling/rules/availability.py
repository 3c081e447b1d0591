"""The slot is free and not held by another agent."""

from __future__ import annotations

from collections.abc import Sequence

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


class SlotFreeRule(Rule):
    key = "slot-free"
    kind = Kind.HARD
    scope = Scope.SLOT
    description = "The slot is free, not booked, blocked or held by another agent."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        slot = cand.slot
        assert slot is not None
        if not slot.free:
            return exclude("the slot is already booked")
        if slot.held_by_other:
            return exclude("the slot is held by another agent")
        if slot.start <= ctx.now:
            return exclude("the slot is in the past")
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        now = ctx.now
        out = [
            i
            for i, cand in enumerate(cands)
            if (slot := cand.slot) is None
            or not slot.free
            or slot.held_by_other
            or slot.start <= now
        ]
        return self.evaluate_at(ctx, cands, config, out)
