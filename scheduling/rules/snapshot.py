"""The network's facts a search needs that do not depend on the patient, kept per process.

Rebuilding them is a dozen queries and ~700 objects; a search instead compares one
version number, read in the same round trip as the patient's facts (see
``loading.search_rows``), with the one its snapshot was built at.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from django.db import connection

from scheduling.models import AppointmentType

from .base import LocationFacts, Names, ProviderFacts, RuleConfig, TypeFacts
from .config_loading import load_configs, load_names
from .loading import location_facts, provider_facts


@dataclass(frozen=True)
class NetworkSnapshot:
    """Everything about the network a search needs that does not depend on the patient."""

    locations: dict[int, LocationFacts]  # in_network left None: it depends on the plan
    providers: dict[int, ProviderFacts]
    served: dict[int, list[int]]
    names: Names
    configs: dict[str, RuleConfig]
    types: dict[int, TypeFacts]
    # Facts with in_network filled in, per set of in-network ids (a few plans matter).
    plan_views: dict[Any, tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]] = field(
        default_factory=dict, compare=False
    )
    # Patient-independent results derived from this snapshot (keyed by their inputs).
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)

    def for_network(
        self, locations_in: frozenset[int], providers_in: frozenset[int]
    ) -> tuple[dict[int, LocationFacts], dict[int, ProviderFacts]]:
        """The facts as seen by a patient whose plan covers these locations/providers."""
        key = (locations_in, providers_in)
        view = self.plan_views.get(key)
        if view is None:
            if len(self.plan_views) > 64:
                self.plan_views.clear()
            view = (
                {pk: replace(f, in_network=pk in locations_in) for pk, f in self.locations.items()},
                {pk: replace(f, in_network=pk in providers_in) for pk, f in self.providers.items()},
            )
            self.plan_views[key] = view
        return view


_snapshots: dict[str, tuple[tuple[Any, ...], NetworkSnapshot]] = {}
# Read the version here: the caller has not read it with its other facts.
READ_STAMP: Any = object()


def network_stamp() -> tuple[Any, ...] | None:
    """The network's version, one single-row read (PostgreSQL; None elsewhere: no cache).

    Migration 0005 keeps it: a statement-level trigger on every table the snapshot is
    built from sets it from a sequence, so any write, however made, changes it, and a
    rolled-back write leaves the old value, whose snapshot is still the truth.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM scheduling_network_version WHERE id = 1")
        row = cursor.fetchone()
    return (row[0],) if row else None


def _all_type_facts() -> dict[int, TypeFacts]:
    caps: dict[int, set[str]] = defaultdict(set)
    for type_id, code in AppointmentType.required_capabilities.through.objects.values_list(
        "appointmenttype_id", "capability__code"
    ):
        caps[type_id].add(code)
    equipment: dict[int, set[str]] = defaultdict(set)
    for type_id, code in AppointmentType.required_equipment.through.objects.values_list(
        "appointmenttype_id", "equipment__code"
    ):
        equipment[type_id].add(code)
    return {
        pk: TypeFacts(
            id=pk,
            name=name,
            duration_minutes=minutes,
            capabilities=frozenset(caps[pk]),
            equipment=frozenset(equipment[pk]),
            patient_status=status,
            telehealth=telehealth,
            assistant_capability=assistant or "",
            mobile_equipment=mobile or "",
        )
        for (
            pk,
            name,
            minutes,
            status,
            telehealth,
            assistant,
            mobile,
        ) in AppointmentType.objects.values_list(
            "id",
            "name",
            "duration_minutes",
            "patient_status",
            "telehealth",
            "assistant_capability__code",
            "mobile_equipment__code",
        )
    }


def network_snapshot(*, on: date, stamp: Any = READ_STAMP) -> NetworkSnapshot:
    """The network's facts, rebuilt only when a row behind them changed (PostgreSQL).

    ``stamp``: the version the caller read in its own round trip (None: no version,
    always rebuild); left out, it is read here.
    """
    if stamp is READ_STAMP:
        stamp = network_stamp()
    key = f"{connection.alias}:{connection.settings_dict.get('NAME')}"
    if stamp is not None:
        cached = _snapshots.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    providers, served = provider_facts(plan_id=None, on=on)
    snapshot = NetworkSnapshot(
        locations=location_facts(plan_id=None, on=on),
        providers=providers,
        served=dict(served),
        names=load_names(),
        configs=load_configs(),
        types=_all_type_facts(),
    )
    if stamp is not None:
        _snapshots[key] = (stamp, snapshot)
    return snapshot
