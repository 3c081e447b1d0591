"""Call events as the domain sees them; ``integrations.telephony`` maps each platform's
wire format into these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

OFFERED = "offered"
ANSWERED = "answered"
TRANSFERRED = "transferred"
ENDED = "ended"
ABANDONED = "abandoned"
CALLBACK_REQUESTED = "callback_requested"
KINDS = (OFFERED, ANSWERED, TRANSFERRED, ENDED, ABANDONED, CALLBACK_REQUESTED)


@dataclass(frozen=True)
class CallEvent:
    """One thing that happened to a call. ``agent`` is the username of the agent who
    answered or took the transfer; ``caller`` and ``dialed`` are digits."""

    kind: str
    sid: str
    at: datetime
    caller: str = ""
    dialed: str = ""
    agent: str = ""
