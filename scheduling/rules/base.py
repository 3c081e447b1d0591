"""The rules engine's vocabulary: frozen facts in, a verdict out.

A rule never queries the database. Everything it may look at is in a ``RuleContext``
(patient, appointment type, agent's preferences, settings) and a ``Candidate`` (a
location, optionally a provider, optionally a slot). ``scheduling.rules.loading`` is the
only place that turns rows into these facts, once per search or booking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, ClassVar


class Kind(StrEnum):
    HARD = "hard"  # excludes with a reason
    SOFT = "soft"  # adds points to rank


class Scope(StrEnum):
    """What a rule looks at, so the engine runs it as rarely as possible."""

    VISIT = "visit"  # once per search: the patient and the visit type alone
    LOCATION = "location"  # once per location per search
    PROVIDER = "provider"  # once per provider per search
    SLOT = "slot"  # once per candidate slot


@dataclass(frozen=True)
class Verdict:
    excluded: bool = False
    reason: str = ""
    points: float = 0.0
    note: str = ""


PASS = Verdict()


def exclude(reason: str) -> Verdict:
    return Verdict(excluded=True, reason=reason)


def score(points: float, note: str) -> Verdict:
    return Verdict(points=round(points, 3), note=note)


@dataclass(frozen=True)
class RuleConfig:
    """One rule's admin-editable settings (a RuleSetting row merged over the defaults)."""

    enabled: bool = True
    weight: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class PatientFacts:
    age: int
    language: str = "en"
    home_lat: float | None = None
    home_lon: float | None = None
    plan_id: int | None = None
    plan_name: str = ""
    # Providers the patient is established with: a completed or arrived visit within the
    # new-patient lookback, or an active booking (see rules.new_patient).
    established_provider_ids: frozenset[int] = frozenset()
    # A completed or arrived visit with the group (any provider, any location) within the
    # lookback: what visit types marked "new/existing patients only" go by.
    established_with_group: bool = False
    # Providers seen before, most recent first (continuity of care).
    previous_provider_ids: tuple[int, ...] = ()
    # Equipment codes the patient's active clinical needs require (wheelchair operatory…).
    needs_equipment: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TypeFacts:
    id: int
    name: str
    duration_minutes: int
    capabilities: frozenset[str] = frozenset()
    equipment: frozenset[str] = frozenset()
    patient_status: str = "any"  # AppointmentType.PatientStatus values


@dataclass(frozen=True)
class LocationFacts:
    id: int
    name: str
    time_zone: str
    region_id: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    equipment: frozenset[str] = frozenset()
    # Each room's equipment; empty tuple means the location does not model rooms.
    rooms: tuple[frozenset[str], ...] = ()
    # weekday (0 = Monday) -> (opens, closes), local wall time
    hours: Mapping[int, tuple[time, time]] = field(default_factory=dict)
    # None when the patient has no plan (self-pay): network does not apply.
    in_network: bool | None = None


@dataclass(frozen=True)
class ProviderFacts:
    id: int
    name: str
    capabilities: frozenset[str] = frozenset()
    languages: tuple[str, ...] = ()
    min_age: int = 0
    max_age: int = 120
    accepts_new_patients: bool = True
    in_network: bool | None = None


@dataclass(frozen=True)
class SlotFacts:
    id: int
    start: datetime  # aware, UTC
    end: datetime
    free: bool = True
    held_by_other: bool = False


@dataclass(frozen=True)
class Preferences:
    max_distance_miles: float | None = None
    preferred_time_of_day: str = "any"  # Waitlist.TimeOfDay values
    earliest: date | None = None


@dataclass(frozen=True)
class Names:
    """Display names for codes, so reasons read as sentences."""

    equipment: Mapping[str, str] = field(default_factory=dict)
    capabilities: Mapping[str, str] = field(default_factory=dict)

    def equipment_name(self, code: str) -> str:
        return self.equipment.get(code, code)

    def capability_name(self, code: str) -> str:
        return self.capabilities.get(code, code)


@dataclass(frozen=True)
class RuleContext:
    patient: PatientFacts
    appointment_type: TypeFacts
    now: datetime
    prefs: Preferences = field(default_factory=Preferences)
    names: Names = field(default_factory=Names)
    configs: Mapping[str, RuleConfig] = field(default_factory=dict)
    # An agent allowed to override the network rule gave a reason (booking only).
    network_override: bool = False

    def config(self, rule: Rule) -> RuleConfig:
        return self.configs.get(rule.key) or rule.default_config()


@dataclass(frozen=True)
class Candidate:
    location: LocationFacts
    provider: ProviderFacts | None = None
    slot: SlotFacts | None = None


class Rule:
    """A rule: metadata plus a pure ``evaluate``. Subclasses set the class attributes."""

    key: ClassVar[str]
    kind: ClassVar[Kind]
    scope: ClassVar[Scope]
    description: ClassVar[str]
    default_weight: ClassVar[float] = 1.0
    default_params: ClassVar[Mapping[str, Any]] = {}
    # A gate's exclusion makes the candidate irrelevant (an orthodontist for a root
    # canal): the engine reports that one reason and skips the scope's other rules.
    gate: ClassVar[bool] = False

    def default_config(self) -> RuleConfig:
        return RuleConfig(weight=self.default_weight, params=dict(self.default_params))

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        raise NotImplementedError


def human_list(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
