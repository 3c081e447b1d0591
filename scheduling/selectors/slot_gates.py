"""Gates slot search judges once per network snapshot, not once per search."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping

from ..rules.base import Candidate, LocationFacts, ProviderFacts, RuleContext
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
    most of the provider work saved. The first search after the snapshot is built
    judges every visit type the snapshot knows (about 2 ms each on the large network),
    so no later search pays for its type's gate.
    """
    key = ("incapable", ctx.appointment_type)
    cached = snapshot.memo.get(key)
    if cached is None:
        for visit in {ctx.appointment_type, *snapshot.types.values()}:
            if ("incapable", visit) not in snapshot.memo:
                typed = dataclasses.replace(ctx, appointment_type=visit)
                snapshot.memo[("incapable", visit)] = _incapable(snapshot, typed)
        cached = snapshot.memo[key]
    return cached


def _incapable(snapshot: NetworkSnapshot, ctx: RuleContext) -> dict[int, Excluded]:
    rule = RULES_BY_KEY[ProviderCapabilityRule.key]
    config = ctx.config(rule)
    out: dict[int, Excluded] = {}
    if not config.enabled:
        return out
    for prov in snapshot.providers.values():
        verdict = rule.evaluate(ctx, Candidate(location=NOWHERE, provider=prov), config)
        if verdict.excluded:
            out[prov.id] = Excluded(
                kind="provider",
                id=prov.id,
                name=prov.name,
                reasons=(verdict.reason,),
                rules=(rule.key,),
            )
    return out


def providers_in_scope(
    snapshot: NetworkSnapshot,
    location_ids: Collection[int],
    *,
    key: tuple[int | None, int | None, int | None],
) -> tuple[tuple[int, int], ...]:
    """(provider, the first location in scope it serves) for each active provider who
    serves a location in scope, in the snapshot's order.

    ``key`` (location, region, provider asked for) names the scope: the same key always
    picks the same locations out of one snapshot, so the answer is kept with it and a
    search no longer walks every provider of the network to find the few in scope.
    """
    memo_key = ("in-scope", key)
    cached = snapshot.memo.get(memo_key)
    if cached is None:
        provider_id, here = key[2], set(location_ids)
        cached = tuple(
            (pk, next(loc for loc in snapshot.served[pk] if loc in here))
            for pk in snapshot.providers
            if (provider_id is None or pk == provider_id)
            and not here.isdisjoint(snapshot.served.get(pk, ()))
        )
        snapshot.memo[memo_key] = cached
    return cached


def capable_in_scope(
    snapshot: NetworkSnapshot,
    ctx: RuleContext,
    in_scope: tuple[tuple[int, int], ...],
    *,
    key: tuple[int | None, int | None, int | None],
) -> tuple[tuple[int, int, int], ...]:
    """(provider, first location in scope, position in scope) of each provider in scope
    the capability gate lets through, in scope order: the ones a search judges."""
    memo_key = ("capable-in-scope", key, ctx.appointment_type)
    cached = snapshot.memo.get(memo_key)
    if cached is None:
        incapable = incapable_providers(snapshot, ctx)
        cached = tuple(
            (pk, first, idx) for idx, (pk, first) in enumerate(in_scope) if pk not in incapable
        )
        snapshot.memo[memo_key] = cached
    return cached


def incapable_in_scope(
    snapshot: NetworkSnapshot,
    ctx: RuleContext,
    in_scope: tuple[tuple[int, int], ...],
    *,
    key: tuple[int | None, int | None, int | None],
) -> tuple[tuple[tuple[str, int], ...], tuple[Excluded, ...]]:
    """The capability gate's exclusions among the providers in scope, sorted by name,
    ties in scope order, with their (name, position in scope) keys, so a search merges
    its few other provider exclusions into them instead of sorting hundreds."""
    memo_key = ("incapable-in-scope", key, ctx.appointment_type)
    cached = snapshot.memo.get(memo_key)
    if cached is None:
        incapable = incapable_providers(snapshot, ctx)
        ordered = sorted(
            ((incapable[pk].name, idx), incapable[pk])
            for idx, (pk, _) in enumerate(in_scope)
            if pk in incapable
        )
        cached = (tuple(k for k, _ in ordered), tuple(e for _, e in ordered))
        snapshot.memo[memo_key] = cached
    return cached


def scope_locations(
    snapshot: NetworkSnapshot,
    view: dict[int, LocationFacts],
    *,
    location_id: int | None,
    region_id: int | None,
) -> tuple[dict[int, LocationFacts], list[Candidate]]:
    """The locations of ``view`` (the snapshot's, or a plan's view of them) a search of
    this location or region covers, and each as a candidate: the same for every search of
    that scope and plan, so they are kept with the snapshot. Both are shared: read only."""
    key = ("scope-locations", id(view), location_id, region_id)
    cached = snapshot.memo.get(key)
    if cached is None or cached[0] is not view:  # the entry keeps its view, and so its id
        here = {
            pk: loc
            for pk, loc in view.items()
            if (location_id is None or pk == location_id)
            and (region_id is None or loc.region_id == region_id)
        }
        cached = snapshot.memo[key] = (view, here, [Candidate(loc) for loc in here.values()])
    return cached[1], cached[2]


def provider_candidates(
    snapshot: NetworkSnapshot,
    ctx: RuleContext,
    view: Mapping[int, ProviderFacts],
    locations: Mapping[int, LocationFacts],
    capable: tuple[tuple[int, int, int], ...],
    *,
    key: tuple[int | None, int | None, int | None],
) -> list[Candidate]:
    """Each capable provider in scope as a candidate at the first location in scope it
    serves, kept like ``scope_locations`` (``locations`` are that view's, in scope)."""
    memo_key = ("scope-providers", id(view), key, ctx.appointment_type)
    cached = snapshot.memo.get(memo_key)
    if cached is None or cached[0] is not view:
        cands = [Candidate(locations[first], view[pk]) for pk, first, _ in capable]
        cached = snapshot.memo[memo_key] = (view, cands)
    return cached[1]
