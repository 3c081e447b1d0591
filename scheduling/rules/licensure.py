"""Telehealth follows the patient: the provider must hold a license in the patient's state
of residence, valid on the day of the visit.

The state is the one on the patient's address; the reason names the state only (a state
is not an identifier). A patient with no state on file cannot be checked, so a video
visit is refused until the address is complete rather than booked on a guess.
"""

from __future__ import annotations

import zoneinfo
from datetime import date

from .base import PASS, Candidate, Kind, Rule, RuleConfig, RuleContext, Scope, Verdict, exclude

NO_STATE = "The patient's address has no state, so licensure for a video visit cannot be checked"


def _visit_day(ctx: RuleContext, cand: Candidate) -> date:
    # Booking judges a concrete slot: its local date. A search judges providers once, on
    # its first day; a license that lapses inside the window is caught when booking.
    if cand.slot is not None:
        return cand.slot.start.astimezone(zoneinfo.ZoneInfo(cand.location.time_zone)).date()
    return ctx.prefs.earliest or ctx.now.date()


class ProviderLicensureRule(Rule):
    key = "licensure"
    kind = Kind.HARD
    scope = Scope.PROVIDER
    description = (
        "For a telehealth visit, the provider is licensed in the patient's state on the visit date."
    )

    def applies(self, ctx: RuleContext, config: RuleConfig) -> bool:
        return ctx.appointment_type.telehealth

    def evaluate(self, ctx: RuleContext, cand: Candidate, config: RuleConfig) -> Verdict:
        prov = cand.provider
        if not ctx.appointment_type.telehealth or prov is None:
            return PASS
        state = ctx.patient.state
        if not state:
            return exclude(NO_STATE)
        until = ctx.licensed_until.get(prov.id)
        if until is None:
            return exclude(f"{prov.name} is not licensed in {state}")
        day = _visit_day(ctx, cand)
        if until < day:
            return exclude(f"{prov.name}'s {state} license is not valid on {day:%b} {day.day}")
        return PASS
