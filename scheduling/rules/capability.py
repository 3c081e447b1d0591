"""Provider capability: the provider has every skill the appointment type needs."""

from __future__ import annotations

from .base import (
    PASS,
    Candidate,
    Kind,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    Verdict,
    exclude,
    human_list,
)


class ProviderCapabilityRule(Rule):
    key = "provider-capability"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "The provider has the capability or specialty the appointment type needs."
    gate = True

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        assert cand.provider is not None
        missing = sorted(ctx.appointment_type.capabilities - cand.provider.capabilities)
        if not missing:
            return PASS
        names = human_list([ctx.names.capability_name(c) for c in missing])
        return exclude(
            f"{cand.provider.name} does not offer {names}, which {ctx.appointment_type.name} needs"
        )
