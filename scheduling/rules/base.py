"""The rules engine's vocabulary: frozen facts in, a verdict out.

A rule never queries the database. Everything it may look at is in a ``RuleContext``
(patient, appointment type, agent's preferences, settings) and a ``Candidate`` (a
location, optionally a provider, optionally a slot). ``scheduling.rules.loading`` is the
only place that turns rows into these facts, once per search or booking.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
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


# Positional (excluded, reason, points, note): rules make dozens of verdicts a search.
def exclude(reason: str) -> Verdict:
    return Verdict(True, reason, 0.0, "")


def score(points: float, note: str) -> Verdict:
    return Verdict(False, "", round(points, 3), note)


@dataclass(frozen=True)
class ParamSpec:
    """One admin-editable parameter a rule declares: its type, range and default.

    Admins edit params as free JSON; the spec is what the admin form checks them against
    and what the loader falls back to when a stored value is unusable, so a typo in one
    row can never take slot search down.
    """

    name: str
    type: type[int] | type[float]
    default: int | float | None
    min: float | None = None
    max: float | None = None
    nullable: bool = False
    help: str = ""

    def coerce(self, value: Any) -> int | float | None:
        """The value as this param's type, or ValueError with a sentence saying why."""
        if value is None:
            if self.nullable:
                return None
            raise ValueError(f"{self.name} is required")
        # bool is an int in Python; true/false is never a count of days or miles.
        if isinstance(value, bool) or not isinstance(value, int | float):
            kind = "a whole number" if self.type is int else "a number"
            raise ValueError(f"{self.name} must be {kind}, not {value!r}")
        if self.type is int and value != int(value):
            raise ValueError(f"{self.name} must be a whole number, not {value!r}")
        number = self.type(value)
        if self.min is not None and number < self.min:
            raise ValueError(f"{self.name} must be at least {self.min:g}, not {value!r}")
        if self.max is not None and number > self.max:
            raise ValueError(f"{self.name} must be at most {self.max:g}, not {value!r}")
        return number


def params_errors(specs: tuple[ParamSpec, ...], raw: Any) -> list[str]:
    """Every problem with a params object, as sentences naming the param."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, Mapping):
        return ["params must be an object of name: value pairs"]
    by_name = {spec.name: spec for spec in specs}
    errors: list[str] = []
    for name, value in raw.items():
        spec = by_name.get(name)
        if spec is None:
            known = ", ".join(sorted(by_name)) or "none"
            errors.append(f"unknown param {name!r} (this rule takes: {known})")
            continue
        try:
            spec.coerce(value)
        except ValueError as exc:
            errors.append(str(exc))
    return errors


@dataclass(frozen=True)
class RuleConfig:
    """One rule's admin-editable settings (a RuleSetting row merged over the defaults)."""

    enabled: bool = True
    weight: float = 1.0
    params: Mapping[str, Any] = field(default_factory=dict)

    def param(self, name: str, default: Any) -> Any:
        return self.params.get(name, default)


@dataclass(frozen=True)
class PatientVisit:
    """One of the patient's own active appointments: a patient is in one place at a time."""

    id: int
    start: datetime  # aware, UTC
    end: datetime
    location_name: str
    time_zone: str


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
    # lookback: what makes a patient no longer new (the CPT/ADA three-year convention).
    established_with_group: bool = False
    # A chart (MRN) in a location's own EHR/PMS. It admits the patient to visit types for
    # existing patients, since it records care from before the hub, but it does not make
    # them established: a chart with no visit in the lookback is a returning patient, who
    # is new again and may book a New patient exam.
    has_chart: bool = False
    # Providers seen before, most recent first (continuity of care).
    previous_provider_ids: tuple[int, ...] = ()
    # Equipment codes the patient's active clinical needs require (wheelchair operatory…).
    needs_equipment: frozenset[str] = frozenset()
    # Active (booked or arrived) appointments not yet over: new visits may not overlap.
    active_visits: tuple[PatientVisit, ...] = ()
    # USPS state of residence from the patient's address ("" when unknown).
    state: str = ""


@dataclass(frozen=True)
class TypeFacts:
    id: int
    name: str
    duration_minutes: int
    capabilities: frozenset[str] = frozenset()
    equipment: frozenset[str] = frozenset()
    patient_status: str = "any"  # AppointmentType.PatientStatus values
    telehealth: bool = False  # a video visit: licensure by the patient's state applies
    # A second staff member's capability code and a piece of mobile equipment's code the
    # visit also needs ("" when it needs none): see rules.resources.
    assistant_capability: str = ""
    mobile_equipment: str = ""

    @property
    def multi_resource(self) -> bool:
        return bool(self.assistant_capability or self.mobile_equipment)


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
    # Local dates the location is closed (holidays, weather), within the dates asked about.
    closed_dates: frozenset[date] = frozenset()


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
    # (start, end) of time off overlapping the dates asked about, aware UTC.
    time_off: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(frozen=True)
class SlotFacts:
    id: int
    start: datetime  # aware, UTC
    end: datetime
    free: bool = True
    held_by_other: bool = False


# (start, end) aware UTC; for staff, (provider id, start, end) of back-to-back free units.
Span = tuple[datetime, datetime]
StaffSpan = tuple[int, datetime, datetime]


@dataclass(frozen=True)
class VisitResources:
    """What a search read about the resources a visit needs besides its provider.

    The times cover only the starts the search is judging (read a batch at a time).
    Locations missing from ``rooms`` are not checked for rooms (no rooms modeled, or, for
    a single-resource visit, no room block in the window); booking picks the room.
    """

    # location -> the providers with the assistant capability who work there
    staff_at: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    # location -> its rooms that hold the equipment the visit needs
    fitting_rooms: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    staff_free: Mapping[int, tuple[StaffSpan, ...]] = field(default_factory=dict)
    # location -> each fitting room's busy spans (visits and blocks)
    rooms: Mapping[int, tuple[tuple[Span, ...], ...]] = field(default_factory=dict)
    equipment_name: str = ""
    equipment_at: frozenset[int] = frozenset()  # locations the mobile equipment serves
    equipment_busy: tuple[Span, ...] = ()


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
    # For a telehealth visit: provider id -> last day of a license in the patient's state
    # (rules.licensure); empty otherwise.
    licensed_until: Mapping[int, date] = field(default_factory=dict)
    # Read by slot search for visits that need more than a provider; None elsewhere
    # (booking takes the resources itself, under locks).
    resources: VisitResources | None = None

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
    # The params admins may set; default_params is derived from them.
    param_specs: ClassVar[tuple[ParamSpec, ...]] = ()
    default_params: ClassVar[Mapping[str, Any]] = {}
    # A gate's exclusion makes the candidate irrelevant (an orthodontist for a root
    # canal): the engine reports that one reason and skips the scope's other rules.
    gate: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.default_params = {spec.name: spec.default for spec in cls.param_specs}

    def default_config(self) -> RuleConfig:
        return RuleConfig(weight=self.default_weight, params=dict(self.default_params))

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        """False only when ``evaluate`` passes every candidate in this context with no
        points (licensure for a visit in person): judging many candidates leaves it out."""
        return True

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        raise NotImplementedError

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        """(index, verdict) of each candidate ``evaluate`` excludes or gives points to, in
        order; the rest pass with no points. A search judges hundreds of providers and
        locations against one context, and most pass every rule: a rule that can tell
        those apart cheaply overrides this to call ``evaluate`` only for the others (its
        reasons and points stay in ``evaluate``, the one place that words them)."""
        return self.evaluate_at(ctx, cands, config, range(len(cands)))

    def evaluate_at(
        self,
        ctx: RuleContext,
        cands: Sequence[Candidate],
        config: RuleConfig,
        indexes: Iterable[int],
    ) -> list[tuple[int, Verdict]]:
        """``evaluate_many`` over the candidates at ``indexes`` only (in order): the ones an
        override could not rule out as passing with no points."""
        out = []
        for i in indexes:
            verdict = self.evaluate(ctx, cands[i], config)
            if verdict.excluded or verdict.points:
                out.append((i, verdict))
        return out

    def points(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> float:
        """The points ``evaluate`` gives (0 when it excludes), for ranking many candidates
        before any is shown. A soft rule judged per slot overrides it with the same
        arithmetic minus the note, which only a shown option needs."""
        verdict = self.evaluate(ctx, cand, config)
        return 0.0 if verdict.excluded else verdict.points

    def max_start_points(self, ctx: RuleContext, config: RuleConfig) -> float | None:
        """The most ``start_points`` gives any start in this context, or None when the
        rule cannot say. A search ranks only the provider/location pairs whose best
        possible score could still make the list, so an unknown bound ranks them all."""
        return None

    def start_points(
        self, ctx: RuleContext, starts: Sequence[Start], config: RuleConfig
    ) -> list[float]:
        """``points`` at each of many starts (a visit of the type's length from each), in
        one call: a search ranks thousands of starts across its provider/location pairs.

        Ranking looks at when and where a visit would be, never at who holds it (that is
        the hard rules' business), so the slot facts here are free and unheld. The soft
        slot rules override this with the same arithmetic over all the starts in one pass.
        """
        length = timedelta(minutes=ctx.appointment_type.duration_minutes)
        return [
            self.points(
                ctx,
                Candidate(cand.location, cand.provider, SlotFacts(slot_id, at, at + length)),
                config,
            )
            for cand, slot_id, at in starts
        ]


# One start to rank: its provider/location candidate (no slot facts yet), the id of its
# first unit and its time (aware, UTC). A plain tuple: a search builds thousands.
Start = tuple[Candidate, int, datetime]


def human_list(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
