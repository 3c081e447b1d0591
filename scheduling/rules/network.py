"""Network participation: the location and the provider take the patient's plan.

An agent with ``scheduling.override_network`` may book out of network with a reason;
the booking service then evaluates with ``network_override`` and records the reason.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


class LocationNetworkRule(Rule):
    key = "network-location"
    kind = Kind.HARD
    scope = Scope.LOCATION
    description = "The location is in network for the patient's plan."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        if cand.location.in_network is not False or ctx.network_override:
            return PASS
        return exclude(
            f"{cand.location.name} is out of network for {ctx.patient.plan_name or 'this plan'}"
        )

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        if ctx.network_override:
            return []
        out = [i for i, cand in enumerate(cands) if cand.location.in_network is False]
        return self.evaluate_at(ctx, cands, config, out)


class ProviderNetworkRule(Rule):
    key = "network-provider"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "The provider is in network for the patient's plan."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        assert cand.provider is not None
        if cand.provider.in_network is not False or ctx.network_override:
            return PASS
        return exclude(
            f"{cand.provider.name} is out of network for {ctx.patient.plan_name or 'this plan'}"
        )

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        if ctx.network_override:
            return []
        out = [
            i
            for i, cand in enumerate(cands)
            if (prov := cand.provider) is None or prov.in_network is False
        ]
        return self.evaluate_at(ctx, cands, config, out)
