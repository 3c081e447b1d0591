"""What the console remembers between requests: opaque ids in the agent's session.

Nothing here goes into a URL: the page and every htmx fragment read the current call,
patient, hold and the appointment being rescheduled from the session, so a reload shows
the same screen and no patient identifier ever appears in an address or access log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SESSION_KEY = "console"


@dataclass
class ConsoleState:
    call_id: int | None = None
    patient_id: int | None = None
    hold_id: int | None = None
    appointment_type_id: int | None = None  # the type the held slot was searched for
    reschedule_id: int | None = None  # appointment being moved to the held slot
    # Why the held slot is out of network for the patient's plan ("" when it is not),
    # e.g. "Dr. Lee is out of network for Delta PPO":
    # booking it then needs an override reason.
    hold_network_note: str = ""
    freed_slot_ids: list[int] = field(default_factory=list)
    finder: dict[str, Any] = field(default_factory=dict)  # last slot-finder form data
    # The last patient search's hits (ids, what matched, whether capped), so a reload
    # shows them again; what was typed is not kept.
    search: dict[str, Any] = field(default_factory=dict)
    # Access audit: patients already audited on the current call, and whether the
    # agent has just opened a patient (outside a call each opening is one access).
    audited_patient_ids: list[int] = field(default_factory=list)
    patient_opened: bool = False
    # What the current call did (Call.Outcome value -> CallReason value), so the wrap-up
    # can prefill the strongest outcome rather than whatever happened last.
    call_actions: dict[str, str] = field(default_factory=dict)
    # The recurring series being planned (``services.SeriesPlan.to_dict``): occurrence
    # numbers, hold and slot ids and times, no patient data beyond the open patient's id.
    series: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Any) -> ConsoleState:
        raw = session.get(SESSION_KEY) or {}
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, session: Any) -> None:
        # Assigning marks the session modified, which costs an encrypted UPDATE of the
        # session row in its own transaction; most redraws change nothing.
        state = asdict(self)
        if session.get(SESSION_KEY) != state:
            session[SESSION_KEY] = state

    def opened(self, patient_id: int) -> None:
        """The agent opened (or registered) this patient: an access, unlike a redraw."""
        self.patient_id = patient_id
        self.patient_opened = True

    def access_to_audit(self, *, on_call: bool) -> bool:
        """Whether showing the open patient's context now is an access to audit.

        Once per patient per call (the panel redraws after every hold, booking or
        cancellation, and reopening the caller's record is still the same access), and
        outside a call once per opening. Marks it audited.
        """
        opened, self.patient_opened = self.patient_opened, False
        if self.patient_id is None:
            return False
        if on_call:
            if self.patient_id in self.audited_patient_ids:
                return False
            self.audited_patient_ids.append(self.patient_id)
            return True
        return opened

    def clear_call(self) -> None:
        self.call_id = None
        self.patient_id = None
        self.hold_id = None
        self.hold_network_note = ""
        self.appointment_type_id = None
        self.reschedule_id = None
        self.freed_slot_ids = []
        self.finder = {}
        self.search = {}
        self.audited_patient_ids = []
        self.patient_opened = False
        self.call_actions = {}
        self.series = {}

    def did(self, outcome: str, reason: str) -> None:
        """The call booked, rescheduled or cancelled something (first reason kept)."""
        self.call_actions.setdefault(outcome, reason)

    def wrapup_initial(self, call_reason: str = "") -> dict[str, str]:
        """The wrap-up's prefill: the strongest outcome the call achieved.

        A booking or a reschedule outweighs a cancellation made on the same call (a
        wrong booking cancelled, or an old visit dropped for a new one); a call that both
        booked and rescheduled is left for the agent to judge. The reason is the one the
        agent gave at the start, else the one that goes with the chosen outcome.
        """
        done = set(self.call_actions)
        outcome = ""
        if {"booked", "rescheduled"} <= done:
            outcome = ""
        elif "booked" in done:
            outcome = "booked"
        elif "rescheduled" in done:
            outcome = "rescheduled"
        elif "cancelled" in done:
            outcome = "cancelled"
        return {"outcome": outcome, "reason": call_reason or self.call_actions.get(outcome, "")}
