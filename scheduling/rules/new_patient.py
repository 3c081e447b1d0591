"""New versus established patients.

Definition (documented in the README): a patient is *established* with a provider when
they had a completed or arrived visit with that provider within the last
``lookback_years`` (3 by default, the usual dental/CPT convention) or hold an active
booking with them; otherwise they are *new* to that provider. A provider who does not
accept new patients still sees their established ones, and appointment types marked
"new patients only" / "existing patients only" follow the same definition.
"""

from __future__ import annotations

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude


def is_new_to(ctx: RuleContext, provider_id: int) -> bool:
    return provider_id not in ctx.patient.established_provider_ids


class ProviderAcceptsNewRule(Rule):
    key = "provider-accepts-new"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "A provider who is not accepting new patients sees only established ones."
    default_params = {"lookback_years": 3}

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        prov = cand.provider
        assert prov is not None
        if prov.accepts_new_patients or not is_new_to(ctx, prov.id):
            return PASS
        return exclude(f"{prov.name} is not accepting new patients")


class PatientStatusRule(Rule):
    key = "appointment-patient-status"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = "New-patient-only and existing-patient-only visit types go to the right people."

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        prov = cand.provider
        assert prov is not None
        status = ctx.appointment_type.patient_status
        new = is_new_to(ctx, prov.id)
        if status == "new" and not new:
            return exclude(
                f"{ctx.appointment_type.name} is for new patients; "
                f"the patient is already established with {prov.name}"
            )
        if status == "existing" and new:
            return exclude(
                f"{ctx.appointment_type.name} is for established patients; "
                f"the patient is new to {prov.name}"
            )
        return PASS
