"""The one list of rules, and the engine that runs them by scope.

Order matters only for how reasons read: hard rules first, in the order an agent thinks
about fit (skill, equipment, network, age, new patients, hours, availability).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .absence import SlotAbsenceRule
from .age import ProviderAgeRule
from .availability import SlotFreeRule
from .base import Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Start
from .capability import ProviderCapabilityRule
from .continuity import ContinuityRule
from .distance import DistanceRule, MaxDistanceRule
from .equipment import LocationEquipmentRule, LocationRoomRule
from .hours import SlotWithinHoursRule
from .language import LanguageRule
from .licensure import ProviderLicensureRule
from .network import LocationNetworkRule, ProviderNetworkRule
from .new_patient import PatientStatusRule, ProviderAcceptsNewRule
from .patient_overlap import PatientOverlapRule
from .resources import LocationResourcesRule, SlotResourcesRule
from .timing import EarliestDateRule, PreferredTimeRule

RULES: tuple[Rule, ...] = (
    ProviderCapabilityRule(),
    LocationEquipmentRule(),
    LocationRoomRule(),
    LocationResourcesRule(),
    LocationNetworkRule(),
    ProviderNetworkRule(),
    ProviderAgeRule(),
    ProviderLicensureRule(),
    ProviderAcceptsNewRule(),
    PatientStatusRule(),
    MaxDistanceRule(),
    SlotWithinHoursRule(),
    SlotAbsenceRule(),
    SlotFreeRule(),
    SlotResourcesRule(),
    PatientOverlapRule(),
    DistanceRule(),
    ContinuityRule(),
    LanguageRule(),
    PreferredTimeRule(),
    EarliestDateRule(),
)
RULES_BY_KEY = {rule.key: rule for rule in RULES}
NETWORK_RULE_KEYS = frozenset({LocationNetworkRule.key, ProviderNetworkRule.key})
_BY_SCOPE = {scope: tuple(r for r in RULES if r.scope == scope) for scope in Scope}


@dataclass(frozen=True)
class ScorePart:
    rule: str
    points: float
    note: str


@dataclass(frozen=True)
class Exclusion:
    rule: str
    reason: str


@dataclass(frozen=True)
class Judgement:
    exclusions: tuple[Exclusion, ...] = ()
    parts: tuple[ScorePart, ...] = ()

    @property
    def excluded(self) -> bool:
        return bool(self.exclusions)

    @property
    def reasons(self) -> list[str]:
        return [e.reason for e in self.exclusions]

    @property
    def score(self) -> float:
        return round(sum(p.points for p in self.parts), 3)

    def __add__(self, other: Judgement) -> Judgement:
        # Immutable: adding an empty verdict (most providers') is the other one as it is.
        if not (other.exclusions or other.parts):
            return self
        if not (self.exclusions or self.parts):
            return other
        return Judgement(self.exclusions + other.exclusions, self.parts + other.parts)


# (rule, config) of each enabled rule, by scope and kinds, for one configs mapping: a
# search judges thousands of candidates against the same settings.
Plan = tuple[tuple[Rule, RuleConfig], ...]
_plans: dict[int, tuple[Mapping[str, RuleConfig], dict[Any, Plan]]] = {}


def _plan(
    ctx: RuleContext, scope: Scope, kinds: frozenset[Kind], skip: frozenset[str] = frozenset()
) -> Plan:
    configs = ctx.configs
    entry = _plans.get(id(configs))
    # The mapping itself is kept in the entry, so its id cannot be reused while cached.
    if entry is None or entry[0] is not configs:
        if len(_plans) > 32:
            _plans.clear()
        entry = _plans[id(configs)] = (configs, {})
    plan = entry[1].get((scope, kinds, skip))
    if plan is None:
        plan = entry[1][(scope, kinds, skip)] = tuple(
            (rule, config)
            for rule in _BY_SCOPE[scope]
            if rule.kind in kinds and rule.key not in skip and (config := ctx.config(rule)).enabled
        )
    return plan


BOTH_KINDS = frozenset({Kind.HARD, Kind.SOFT})


def judge(
    ctx: RuleContext,
    cand: Candidate,
    scope: Scope,
    *,
    kinds: Iterable[Kind] = BOTH_KINDS,
) -> Judgement:
    """Run every enabled rule of one scope (and kind) against a candidate."""
    wanted = kinds if isinstance(kinds, frozenset) else frozenset(kinds)
    return _run(ctx, cand, _plan(ctx, scope, wanted))


def judge_each(
    ctx: RuleContext,
    cands: Sequence[Candidate],
    scope: Scope,
    *,
    passed: frozenset[str] = frozenset(),
    kinds: frozenset[Kind] = BOTH_KINDS,
) -> list[Judgement]:
    """``judge`` of many candidates of one context (and ``kinds``), the rules resolved
    once and each run once over all of them (``Rule.evaluate_many``).

    ``passed``: keys of rules every one of these candidates is already known to pass
    (a gate the caller judged for them), left out rather than run again. Rules that
    do not apply in this context (``Rule.applies``) are left out too.
    """
    plan = tuple(
        (rule, config)
        for rule, config in _plan(ctx, scope, kinds, passed)
        if rule.applies(ctx, config)
    )
    return _run_many(ctx, cands, plan)


def judger(
    ctx: RuleContext, scope: Scope, kinds: frozenset[Kind] = BOTH_KINDS
) -> Callable[[RuleContext, Candidate], Judgement]:
    """``judge`` with the rules resolved once, for many candidates judged in contexts
    that share ``ctx``'s settings (a search adds facts to its context as it goes)."""
    plan = _plan(ctx, scope, kinds)
    return lambda context, cand: _run(context, cand, plan)


def batch_judger(
    ctx: RuleContext, scope: Scope, kinds: frozenset[Kind] = BOTH_KINDS
) -> Callable[[RuleContext, Sequence[Candidate]], list[Judgement]]:
    """``judger`` for a batch of candidates at a time, each rule run once over the batch."""
    plan = _plan(ctx, scope, kinds)
    return lambda context, cands: _run_many(context, cands, plan)


# What most candidates get: no exclusion, no points (a Judgement is immutable).
CLEAR = Judgement()


def _run(ctx: RuleContext, cand: Candidate, plan: Plan) -> Judgement:
    exclusions: list[Exclusion] | None = None
    parts: list[ScorePart] | None = None
    for rule, config in plan:
        verdict = rule.evaluate(ctx, cand, config)
        if verdict.excluded:
            if rule.gate:
                return Judgement((Exclusion(rule.key, verdict.reason),), ())
            if exclusions is None:
                exclusions = []
            exclusions.append(Exclusion(rule.key, verdict.reason))
        elif verdict.points:
            if parts is None:
                parts = []
            parts.append(ScorePart(rule.key, verdict.points, verdict.note))
    if exclusions is None and parts is None:
        return CLEAR
    return Judgement(tuple(exclusions or ()), tuple(parts or ()))


def _run_many(ctx: RuleContext, cands: Sequence[Candidate], plan: Plan) -> list[Judgement]:
    """``_run`` of each candidate: the same exclusions and parts in the same order (the
    plan's), a gate's exclusion alone, and CLEAR for a candidate no rule had a word for."""
    out = [CLEAR] * len(cands)
    gated: set[int] = set()
    for rule, config in plan:
        said = rule.evaluate_many(ctx, cands, config)
        if not said:
            continue
        key, gate = rule.key, rule.gate
        # Many candidates hear the very same verdict (a cached "speaks es", provider after
        # provider): each becomes one Judgement, shared, as they are immutable. Keyed by
        # identity: ``said`` keeps every verdict alive, so no id is reused meanwhile.
        made: dict[int, Judgement] = {}
        for i, verdict in said:
            if gated and i in gated:
                continue
            one = made.get(vid := id(verdict))
            if one is None:
                one = made[vid] = (
                    Judgement((Exclusion(key, verdict.reason),), ())
                    if verdict.excluded
                    else Judgement((), (ScorePart(key, verdict.points, verdict.note),))
                )
            if gate and verdict.excluded:
                out[i] = one  # the gate's reason alone, as _run gives it
                gated.add(i)
                continue
            before = out[i]
            out[i] = (
                one
                if before is CLEAR
                else Judgement(before.exclusions + one.exclusions, before.parts + one.parts)
            )
    return out


SOFT_KINDS = frozenset({Kind.SOFT})


def soft_score(ctx: RuleContext, cand: Candidate, scope: Scope) -> float:
    """``judge(ctx, cand, scope, kinds=[Kind.SOFT]).score``, without building the
    verdicts: the same points summed in the same order."""
    return soft_scorer(ctx, scope)(cand)


def soft_scorer(ctx: RuleContext, scope: Scope) -> Callable[[Candidate], float]:
    """``soft_score`` for many candidates of one context, the rules resolved once."""
    plan = _plan(ctx, scope, SOFT_KINDS)

    def scorer(cand: Candidate) -> float:
        total = 0.0
        for rule, config in plan:
            total += rule.points(ctx, cand, config)
        return round(total, 3)

    return scorer


def soft_start_scorer(ctx: RuleContext, scope: Scope) -> Callable[[Sequence[Start]], list[float]]:
    """``soft_score`` of each of many starts, each rule run once over all of them: the
    same points, summed in the same order and rounded the same way, as scoring each
    start's candidate on its own."""
    plan = _plan(ctx, scope, SOFT_KINDS)

    def scorer(starts: Sequence[Start]) -> list[float]:
        totals = [0.0] * len(starts)
        for rule, config in plan:
            for i, points in enumerate(rule.start_points(ctx, starts, config)):
                totals[i] += points
        return [round(total, 3) for total in totals]

    return scorer


def soft_start_bound(ctx: RuleContext, scope: Scope) -> float | None:
    """The most points ``soft_start_scorer`` can give any start in this context, or None
    when a rule cannot bound its points."""
    total = 0.0
    for rule, config in _plan(ctx, scope, SOFT_KINDS):
        most = rule.max_start_points(ctx, config)
        if most is None:
            return None
        total += most
    return total


def judge_all(ctx: RuleContext, cand: Candidate) -> Judgement:
    """Every scope at once: what booking one concrete slot checks."""
    result = judge(ctx, cand, Scope.VISIT) + judge(ctx, cand, Scope.LOCATION)
    if cand.provider is not None:
        result = result + judge(ctx, cand, Scope.PROVIDER)
    if cand.slot is not None:
        result = result + judge(ctx, cand, Scope.SLOT)
    return result
