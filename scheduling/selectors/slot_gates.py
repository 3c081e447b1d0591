"""Gates slot search judges once per network snapshot, not once per search."""

from __future__ import annotations

from ..rules.base import Candidate, LocationFacts, RuleContext
from ..rules.capability import ProviderCapabilityRule
from ..rules.registry import RULES_BY_KEY
from ..rules.snapshot import NetworkSnapshot
from .slot_results import Excluded

# The capability gate looks at the provider alone; it gets no real site.
NOWHERE = LocationFacts(id=0, name="", time_zone="UTC")


def incapable_providers(snapshot: NetworkSnapshot, ctx: RuleContext) -> dict[int, Excluded]:
    """Providers the capability gate rules out for this visit type, listed as excluded.

    The gate looks at the visit type and the provider only, never the patient, so the
    answer is kept with the network snapshot: most providers of a large network fail it
    for any given visit, and judging them once per type instead of once per search is
    most of the provider work saved.
    """
    key = ("incapable", ctx.appointment_type)
    cached = snapshot.memo.get(key)
    if cached is None:
        rule = RULES_BY_KEY[ProviderCapabilityRule.key]
        config = ctx.config(rule)
        cached = {}
        if config.enabled:
            for prov in snapshot.providers.values():
                verdict = rule.evaluate(ctx, Candidate(location=NOWHERE, provider=prov), config)
                if verdict.excluded:
                    cached[prov.id] = Excluded(
                        kind="provider",
                        id=prov.id,
                        name=prov.name,
                        reasons=(verdict.reason,),
                        rules=(rule.key,),
                    )
        snapshot.memo[key] = cached
    return cached
