"""Language match: a provider who speaks the patient's preferred language ranks higher."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, score


class LanguageRule(Rule):
    key = "language-match"
    kind = Kind.SOFT
    scope = Scope.PROVIDER
    description = "Providers who speak the patient's preferred language rank higher."
    default_weight = 1.5

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        assert cand.provider is not None
        language = (ctx.patient.language or "").lower()[:2]
        if language and language in cand.provider.languages:
            return _speaks(config.weight, language)
        return PASS

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        language = (ctx.patient.language or "").lower()[:2]
        if not language:
            return []
        provs = [cand.provider for cand in cands]
        speaks = _speaks(config.weight, language)  # evaluate's verdict for each who speaks it
        if any(prov is None for prov in provs) or not speaks.points:
            return super().evaluate_many(ctx, cands, config)
        return [
            (i, speaks)
            for i, prov in enumerate(provs)
            if prov is not None and language in prov.languages
        ]


# One verdict per weight and language: a network-wide search judges hundreds of
# providers for one patient, and building the note was most of this rule's cost.
@lru_cache(maxsize=256)
def _speaks(weight: float, language: str) -> Verdict:
    return score(weight, f"speaks {language}")
