"""Slot search's location and provider verdicts: each location and each provider in
scope judged once per search, with the reasons of every one excluded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..rules.base import Candidate, LocationFacts, ProviderFacts, RuleContext, Scope
from ..rules.capability import ProviderCapabilityRule
from ..rules.registry import NETWORK_RULE_KEYS, Judgement, judge_each
from ..rules.snapshot import NetworkSnapshot
from .slot_gates import incapable_providers, providers_in_scope
from .slot_results import Excluded

# Providers judged here passed the capability gate already (slot_gates).
GATE_PASSED = frozenset({ProviderCapabilityRule.key})


@dataclass
class ScopeVerdicts:
    excluded: list[Excluded]
    locations: dict[int, Judgement]  # the locations not excluded, with their points
    providers: dict[int, Judgement]
    # Out-of-network reasons of locations and providers kept only by the override.
    network_notes: dict[tuple[str, int], tuple[str, ...]]
    provider_facts: dict[int, ProviderFacts]  # the providers not excluded
    providers_searched: int


def judge_scope(
    ctx: RuleContext,
    snapshot: NetworkSnapshot,
    *,
    locations: Mapping[int, LocationFacts],
    all_providers: Mapping[int, ProviderFacts],
    scope_key: tuple[int | None, int | None, int | None],
    override: bool,
) -> ScopeVerdicts:
    """Judge the locations in scope, then the providers serving one of them (each at
    the first such location it serves); ``override`` lifts network-only exclusions."""
    out = ScopeVerdicts([], {}, {}, {}, {}, 0)
    verdicts = judge_each(ctx, [Candidate(loc) for loc in locations.values()], Scope.LOCATION)
    for loc, verdict in zip(locations.values(), verdicts, strict=True):
        _keep(out, "location", loc.id, loc.name, verdict, override)
    in_scope = providers_in_scope(snapshot, locations.keys(), key=scope_key)
    incapable = incapable_providers(snapshot, ctx)
    capable = [(pk, first) for pk, first in in_scope if pk not in incapable]
    judged = dict(
        zip(
            (pk for pk, _ in capable),
            judge_each(
                ctx,
                [Candidate(locations[first], all_providers[pk]) for pk, first in capable],
                Scope.PROVIDER,
                passed=GATE_PASSED,
            ),
            strict=True,
        )
    )
    # In the snapshot's order, as the excluded list always read before its final sort.
    for pk, _ in in_scope:
        gated = incapable.get(pk)
        if gated is not None:
            out.excluded.append(gated)
        else:
            prov = all_providers[pk]
            if _keep(out, "provider", pk, prov.name, judged[pk], override):
                out.provider_facts[pk] = prov
    out.providers_searched = len(in_scope)
    return out


def _keep(
    out: ScopeVerdicts, kind: str, pk: int, name: str, verdict: Judgement, override: bool
) -> bool:
    """Record one verdict; whether the location or provider stays in the search."""
    if override and only_network(verdict):
        out.network_notes[(kind, pk)] = tuple(verdict.reasons)
        verdict = Judgement((), verdict.parts)
    if verdict.excluded:
        out.excluded.append(
            Excluded(
                kind=kind,
                id=pk,
                name=name,
                reasons=tuple(verdict.reasons),
                rules=tuple(e.rule for e in verdict.exclusions),
            )
        )
        return False
    (out.locations if kind == "location" else out.providers)[pk] = verdict
    return True


def only_network(verdict: Judgement) -> bool:
    """Whether the network rules are all that exclude (what the override may lift)."""
    return verdict.excluded and all(e.rule in NETWORK_RULE_KEYS for e in verdict.exclusions)
