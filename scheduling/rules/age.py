"""Patient age within the provider's range (pediatric dentists, adult-only practices)."""

from __future__ import annotations

from collections.abc import Sequence

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


def age_range_text(min_age: int, max_age: int) -> str:
    if max_age >= 120:
        return f"{min_age} and over"
    if min_age <= 0:
        return f"up to {max_age}"
    return f"{min_age} to {max_age}"


class ProviderAgeRule(Rule):
    key = "provider-age-range"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "The patient's age is within the ages the provider sees."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        prov = cand.provider
        assert prov is not None
        age = ctx.patient.age
        if prov.min_age <= age <= prov.max_age:
            return PASS
        return exclude(
            f"patient is {age}; {prov.name} sees {age_range_text(prov.min_age, prov.max_age)}"
        )

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        age = ctx.patient.age
        out = [
            i
            for i, cand in enumerate(cands)
            if (prov := cand.provider) is None or not prov.min_age <= age <= prov.max_age
        ]
        return self.evaluate_at(ctx, cands, config, out)
