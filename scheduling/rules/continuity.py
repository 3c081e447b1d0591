"""Continuity of care: the provider the patient saw before ranks higher."""

from __future__ import annotations

from collections.abc import Sequence

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, score


class ContinuityRule(Rule):
    key = "continuity"
    kind = Kind.SOFT
    scope = Scope.PROVIDER
    description = "Providers the patient has seen before rank higher, the most recent most."
    default_weight = 2.0

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        return bool(ctx.patient.previous_provider_ids)

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        assert cand.provider is not None
        previous = ctx.patient.previous_provider_ids
        if cand.provider.id not in previous:
            return PASS
        rank = previous.index(cand.provider.id)
        # The most recent provider gets the full weight, earlier ones half.
        share = 1.0 if rank == 0 else 0.5
        return score(config.weight * share, "seen this provider before")

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        seen = set(ctx.patient.previous_provider_ids)
        out = [
            i for i, cand in enumerate(cands) if (prov := cand.provider) is None or prov.id in seen
        ]
        return self.evaluate_at(ctx, cands, config, out)
