"""New versus established patients.

Definitions (documented in the README), both with a ``lookback_years`` window (3 by
default, the usual CPT/ADA convention):

- *established with a provider*: a completed or arrived visit with that provider within
  the window, or an active booking with them. A provider who is not accepting new
  patients still sees the patients established with them.
- *established with the group*: a completed or arrived visit with any provider at any
  location within the window (a booking alone does not count, and moving a booked visit
  keeps the type it was booked as). "New patients only" visit types (New patient exam)
  go by this one, so a patient not seen for three years may book one again.
- *known to the group*: established, or a chart (MRN) in a location's own EHR/PMS, which
  records care from before the hub. "Existing patients only" visit types (Periodic
  cleaning) go by this one: a patient of the group may see any hygienist for a cleaning.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import (
    PASS,
    Candidate,
    Kind,
    ParamSpec,
    Rule,
    RuleConfig,
    RuleContext,
    Scope,
    Verdict,
    exclude,
)


def is_new_to(ctx: RuleContext, provider_id: int) -> bool:
    return provider_id not in ctx.patient.established_provider_ids


class ProviderAcceptsNewRule(Rule):
    key = "provider-accepts-new"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "A provider who is not accepting new patients sees only established ones."
    param_specs = (ParamSpec("lookback_years", int, 3, min=1, max=20, help="years a visit counts"),)

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        prov = cand.provider
        assert prov is not None
        if prov.accepts_new_patients or not is_new_to(ctx, prov.id):
            return PASS
        return exclude(f"{prov.name} is not accepting new patients")

    def evaluate_many(
        self, ctx: RuleContext, cands: Sequence[Candidate], config: RuleConfig
    ) -> list[tuple[int, Verdict]]:
        out = [
            i
            for i, cand in enumerate(cands)
            if (prov := cand.provider) is None or not prov.accepts_new_patients
        ]
        return self.evaluate_at(ctx, cands, config, out)


class PatientStatusRule(Rule):
    key = "appointment-patient-status"
    kind = Kind.HARD
    scope = Scope.VISIT
    description = "New-patient-only and existing-patient-only visit types go to the right people."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        status = ctx.appointment_type.patient_status
        established = ctx.patient.established_with_group
        known = established or ctx.patient.has_chart
        if status == "new" and established:
            return exclude(
                f"{ctx.appointment_type.name} is for new patients; "
                "the patient is already established with the practice"
            )
        if status == "existing" and not known:
            return exclude(
                f"{ctx.appointment_type.name} is for established patients; "
                "the patient is new to the practice"
            )
        return PASS
