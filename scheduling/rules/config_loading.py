"""Rule settings, display names and visit types as the frozen facts rules read.

None of them depends on a patient; the search keeps them in its network snapshot. The
licenses in one state (for telehealth) are read per search, outside the snapshot.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from scheduling.models import AppointmentType, Capability, Equipment, ProviderLicense, RuleSetting

from .base import Names, Rule, RuleConfig, TypeFacts
from .registry import RULES, RULES_BY_KEY

logger = logging.getLogger(__name__)


def load_configs() -> dict[str, RuleConfig]:
    """Defaults from the registry, overridden by whatever admins saved in RuleSetting."""
    configs = {rule.key: rule.default_config() for rule in RULES}
    for row in RuleSetting.objects.all():
        rule = RULES_BY_KEY.get(row.key)
        if rule is None:
            continue
        params = usable_params(rule, row.params)
        configs[row.key] = RuleConfig(enabled=row.enabled, weight=row.weight, params=params)
    return configs


def usable_params(rule: Rule, raw: Any) -> dict[str, Any]:
    """The rule's defaults overridden by each stored param that is valid.

    The admin form refuses bad params, but a row written by SQL or a fixture skips it: an
    unusable value falls back to that param's default with a warning (rule key and param
    name only; params never hold patient data), so one bad row never breaks a search.
    """
    params = dict(rule.default_params)
    if not isinstance(raw, dict):
        if raw not in (None, ""):
            logger.warning("RuleSetting %s: params is not an object; using defaults", rule.key)
        return params
    specs = {spec.name: spec for spec in rule.param_specs}
    for name, value in raw.items():
        spec = specs.get(name)
        if spec is None:
            logger.warning("RuleSetting %s: unknown param %r ignored", rule.key, str(name)[:40])
            continue
        try:
            params[name] = spec.coerce(value)
        except ValueError:
            logger.warning(
                "RuleSetting %s: invalid value for param %s; using the default", rule.key, name
            )
    return params


def load_names() -> Names:
    return Names(
        equipment=dict(Equipment.objects.values_list("code", "name")),
        capabilities=dict(Capability.objects.values_list("code", "name")),
    )


def type_facts(appointment_type: AppointmentType) -> TypeFacts:
    return TypeFacts(
        id=appointment_type.pk,
        name=appointment_type.name,
        duration_minutes=appointment_type.duration_minutes,
        capabilities=frozenset(
            appointment_type.required_capabilities.values_list("code", flat=True)
        ),
        equipment=frozenset(appointment_type.required_equipment.values_list("code", flat=True)),
        patient_status=appointment_type.patient_status,
        telehealth=appointment_type.telehealth,
        assistant_capability=(
            appointment_type.assistant_capability.code
            if appointment_type.assistant_capability is not None
            else ""
        ),
        mobile_equipment=(
            appointment_type.mobile_equipment.code
            if appointment_type.mobile_equipment is not None
            else ""
        ),
    )


def licensed_until(
    visit: TypeFacts, state: str, *, memo: dict[Any, Any] | None = None
) -> dict[int, date]:
    """Provider id -> the last day any of their licenses in ``state`` is valid; read only
    for a telehealth visit to a patient whose state is known (the licensure rule).

    ``memo``: a network snapshot's, kept per state. Licenses are network rows whose
    writes move the network's version (PostgreSQL), so a new version brings a new memo;
    elsewhere the snapshot, and its memo, are rebuilt for each search."""
    if not visit.telehealth or not state:
        return {}
    if memo is None:
        return _licensed_until(state)
    found: dict[int, date] | None = memo.get(("licensed-until", state))
    if found is None:
        found = memo[("licensed-until", state)] = _licensed_until(state)
    return found


def _licensed_until(state: str) -> dict[int, date]:
    rows = ProviderLicense.objects.filter(state=state).values_list("provider_id", "valid_until")
    until: dict[int, date] = {}
    for provider_id, day in rows:
        until[provider_id] = max(day, until.get(provider_id, day))
    return until
