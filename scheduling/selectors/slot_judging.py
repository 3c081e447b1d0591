"""Slot search's location and provider verdicts: each location and each provider in
scope judged once per search, with the reasons of every one excluded."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..rules.availability import SlotFreeRule
from ..rules.base import Candidate, Kind, LocationFacts, ProviderFacts, RuleContext, Scope
from ..rules.capability import ProviderCapabilityRule
from ..rules.registry import NETWORK_RULE_KEYS, Judgement, judge_each
from ..rules.snapshot import NetworkSnapshot
from .slot_gates import (
    capable_in_scope,
    incapable_in_scope,
    provider_candidates,
    providers_in_scope,
)
from .slot_results import Excluded

# Providers judged here passed the capability gate already (slot_gates).
GATE_PASSED = frozenset({ProviderCapabilityRule.key})
HARD, SOFT = frozenset({Kind.HARD}), frozenset({Kind.SOFT})


@dataclass
class ScopeVerdicts:
    excluded: list[Excluded]  # locations, in the order judged
    # Providers, by name (ties in the snapshot's order): what a stable sort by name of
    # them in the snapshot's order gives, without sorting hundreds per search.
    excluded_providers: list[Excluded]
    # The locations and providers not excluded, without their points: ``score_pairs``
    # adds them for the few a search reads starts of.
    locations: dict[int, Judgement]
    providers: dict[int, Judgement]
    # Out-of-network reasons of locations and providers kept only by the override.
    network_notes: dict[tuple[str, int], tuple[str, ...]]
    provider_facts: dict[int, ProviderFacts]  # the providers not excluded
    providers_searched: int
    # Each provider not excluded as it was judged (at the first location in scope it
    # serves): the soft rules judge it the same way.
    provider_cands: dict[int, Candidate]


def judge_scope(
    ctx: RuleContext,
    snapshot: NetworkSnapshot,
    *,
    locations: Mapping[int, LocationFacts],
    location_cands: list[Candidate],
    all_providers: Mapping[int, ProviderFacts],
    scope_key: tuple[int | None, int | None, int | None],
    override: bool,
) -> ScopeVerdicts:
    """Judge the locations in scope, then the providers serving one of them (each at
    the first such location it serves), by the hard rules (what excludes them);
    ``override`` lifts network-only exclusions.

    ``locations`` and ``location_cands`` (each location as a candidate, in order) come
    from ``scope_locations`` of the same view of the network as ``all_providers``."""
    out = ScopeVerdicts([], [], {}, {}, {}, {}, 0, {})
    kept_locations = out.locations
    # The soft rules only add points, which only a location or provider with starts
    # needs: of the dozens (network-wide, hundreds) judged here, a search usually reads
    # starts of a few (``score_pairs``).
    verdicts = judge_each(ctx, location_cands, Scope.LOCATION, kinds=HARD)
    for loc, verdict in zip(locations.values(), verdicts, strict=True):
        if not verdict.exclusions:  # most locations: kept
            kept_locations[loc.id] = verdict
            continue
        gone = _keep(out, "location", loc.id, loc.name, verdict, override)
        if gone is not None:
            out.excluded.append(gone)
    in_scope = providers_in_scope(snapshot, locations.keys(), key=scope_key)
    capable = capable_in_scope(snapshot, ctx, in_scope, key=scope_key)
    cands = provider_candidates(snapshot, ctx, all_providers, locations, capable, key=scope_key)
    judged = judge_each(ctx, cands, Scope.PROVIDER, passed=GATE_PASSED, kinds=HARD)
    gated_keys, gated = incapable_in_scope(snapshot, ctx, in_scope, key=scope_key)
    keys, out.excluded_providers = list(gated_keys), list(gated)
    kept_providers, provider_facts, provider_cands = (
        out.providers,
        out.provider_facts,
        out.provider_cands,
    )
    for (pk, _, idx), cand, judgement in zip(capable, cands, judged, strict=True):
        prov = all_providers[pk]
        if not judgement.exclusions:
            kept_providers[pk] = judgement
            provider_facts[pk] = prov
            provider_cands[pk] = cand
            continue
        gone = _keep(out, "provider", pk, prov.name, judgement, override)
        if gone is None:
            provider_facts[pk] = prov
            provider_cands[pk] = cand
        else:  # among the gated ones by name, then by place in scope
            at = bisect.bisect(keys, (prov.name, idx))
            keys.insert(at, (prov.name, idx))
            out.excluded_providers.insert(at, gone)
    out.providers_searched = len(in_scope)
    return out


def score_pairs(
    ctx: RuleContext,
    verdicts: ScopeVerdicts,
    locations: Mapping[int, LocationFacts],
    pairs: Iterable[tuple[int, int]],
) -> None:
    """Add the soft rules' points to the locations and providers of ``pairs`` among
    ``verdicts``' (from ``judge_scope``, of these ``locations``): each then has its full
    verdict, as judging every rule at once gives it (hard rules only exclude, so a kept
    one's parts are all soft ones, in the same order)."""
    loc_ids = list(dict.fromkeys(loc_id for _, loc_id in pairs))
    loc_cands = [Candidate(locations[pk]) for pk in loc_ids]
    _add_points(ctx, verdicts.locations, Scope.LOCATION, loc_ids, loc_cands)
    prov_ids = list(dict.fromkeys(prov_id for prov_id, _ in pairs))
    prov_cands = [verdicts.provider_cands[pk] for pk in prov_ids]
    _add_points(ctx, verdicts.providers, Scope.PROVIDER, prov_ids, prov_cands)


def _add_points(
    ctx: RuleContext,
    kept: dict[int, Judgement],
    scope: Scope,
    ids: list[int],
    cands: list[Candidate],
) -> None:
    softs = judge_each(ctx, cands, scope, kinds=SOFT)
    for pk, soft in zip(ids, softs, strict=True):
        kept[pk] = kept[pk] + soft


def _keep(
    out: ScopeVerdicts, kind: str, pk: int, name: str, verdict: Judgement, override: bool
) -> Excluded | None:
    """Record one verdict: the exclusion to list, or None (the location or provider
    stays in the search)."""
    if override and only_network(verdict):
        out.network_notes[(kind, pk)] = tuple(verdict.reasons)
        verdict = Judgement((), verdict.parts)
    exclusions = verdict.exclusions
    if len(exclusions) == 1:  # most: one reason
        (one,) = exclusions
        # kind, id, name, reasons, rules: positional, dozens are listed per search.
        return Excluded(kind, pk, name, (one.reason,), (one.rule,))
    if exclusions:
        return Excluded(
            kind,
            pk,
            name,
            tuple([e.reason for e in exclusions]),
            tuple([e.rule for e in exclusions]),
        )
    (out.locations if kind == "location" else out.providers)[pk] = verdict
    return None


def only_network(verdict: Judgement) -> bool:
    """Whether the network rules are all that exclude (what the override may lift)."""
    return verdict.excluded and all(e.rule in NETWORK_RULE_KEYS for e in verdict.exclusions)


def shown_start(cand: Candidate, hard: Judgement) -> bool:
    """Whether a start judged by the slot rules is shown: nothing against it, or only
    another agent's hold (shown as held where it ranks)."""
    held = cand.slot is not None and cand.slot.held_by_other
    return not hard.excluded or (held and _only_held(hard))


def _only_held(verdict: Judgement) -> bool:
    """Whether the only thing against a start is another agent's hold."""
    return all(e.rule == SlotFreeRule.key for e in verdict.exclusions)
