"""Reads for hub routing and the wallboard."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from config.compiled import Compiled, stand_in_id
from config.crypto.fields import blind_index_of
from patients.models import Patient
from patients.phones import normalize_phone

from ..hubs.policy import SERVICE_LEVEL_SECONDS
from ..models import AgentPresence, Call, Hub, HubCall, HubLine, HubRegion, Presence


@dataclass(frozen=True)
class Route:
    hub: Hub | None
    urgent: bool
    reason: str


def patient_ids_by_phone(phone: str) -> list[int]:
    """Patients whose stored number is exactly this one (at most a few)."""
    digits = normalize_phone(phone)
    if not digits:
        return []
    key = blind_index_of(Patient, "phone_bidx", digits)
    return list(Patient.objects.filter(phone_bidx=key).values_list("id", flat=True)[:5])


def route_for_call(*, dialed: str, caller: str) -> Route:
    """The hub that takes a call: the dialed line's region, else the caller's home
    location's region (when the number matches exactly one patient), else the first hub."""
    line = HubLine.objects.filter(number=normalize_phone(dialed)).select_related("region").first()
    urgent = bool(line and line.urgent)
    region, why = None, ""
    if line is not None and line.region is not None:
        region, why = line.region, f"dialed line {line} serves {line.region}"
    else:
        ids = patient_ids_by_phone(caller)
        if len(ids) == 1:
            patient = Patient.objects.select_related("home_location__region").get(pk=ids[0])
            if patient.home_location is not None:
                region = patient.home_location.region
                why = f"caller's home location is in {region}"
    if region is not None:
        link = HubRegion.objects.filter(region=region).select_related("hub").first()
        if link is not None:
            return Route(link.hub, urgent, f"{why}, taken by {link.hub}")
        why = f"{why}, which no hub takes"
    hub = Hub.objects.order_by("pk").first()
    return Route(hub, urgent, f"{why or 'no region known'}; default hub {hub}")


def hub_waiting(*, hub_id: int) -> QuerySet[HubCall]:
    """Calls an agent of this hub may take, in queue order: its own and those that
    overflowed to it."""
    return (
        HubCall.objects.filter(state=HubCall.State.WAITING)
        .filter(Q(hub_id=hub_id) | Q(overflow_hub_id=hub_id))
        .order_by("-urgent", "offered_at", "pk")
    )


def hub_available_agents(*, hub_id: int) -> QuerySet[AgentPresence]:
    """Longest idle first."""
    return AgentPresence.objects.filter(
        hub_id=hub_id, state=Presence.AVAILABLE, current_call__isnull=True
    ).order_by("idle_since", "pk")


@dataclass
class HubBoard:
    hub: Hub
    waiting: int = 0
    longest_wait: float = 0.0
    agents: dict[str, int] = field(default_factory=dict)
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    callbacks: int = 0
    overflow_out: int = 0
    overflow_in: int = 0
    wait_total: float = 0.0

    @property
    def service_level(self) -> float | None:
        finished = self.answered + self.abandoned + self.callbacks
        return self.answered_in_time / finished if finished else None

    @property
    def average_speed_of_answer(self) -> float | None:
        return self.wait_total / self.answered if self.answered else None

    @property
    def abandonment(self) -> float | None:
        finished = self.answered + self.abandoned + self.callbacks
        return self.abandoned / finished if finished else None


def hub_measures(*, hub: Hub, start: datetime, end: datetime, now: datetime) -> HubBoard:
    """The wallboard's figures for calls offered to ``hub`` in [start, end)."""
    board = HubBoard(hub=hub)
    waiting = list(hub_waiting(hub_id=hub.pk).values_list("offered_at", flat=True))
    board.waiting = len(waiting)
    board.longest_wait = max(((now - t).total_seconds() for t in waiting if t), default=0.0)
    board.agents = dict.fromkeys(Presence.values, 0)
    for state in AgentPresence.objects.filter(hub=hub).values_list("state", flat=True):
        board.agents[state] += 1
    calls = HubCall.objects.filter(offered_at__gte=start, offered_at__lt=end)
    for row in calls.filter(hub=hub).values(
        "state", "offered_at", "answered_at", "overflow_hub_id"
    ):
        board.offered += 1
        if row["overflow_hub_id"]:
            board.overflow_out += 1
        if row["answered_at"] is not None and row["offered_at"] is not None:
            wait = max(0.0, (row["answered_at"] - row["offered_at"]).total_seconds())
            board.answered += 1
            board.wait_total += wait
            board.answered_in_time += wait <= SERVICE_LEVEL_SECONDS
        elif row["state"] == HubCall.State.ABANDONED:
            board.abandoned += 1
        elif row["state"] == HubCall.State.CALLBACK:
            board.callbacks += 1
    board.overflow_in = calls.filter(overflow_hub=hub).count()
    return board


def hub_today(hub: Hub, now: datetime) -> tuple[datetime, datetime]:
    """Midnight to midnight in the hub's own time zone."""
    local = now.astimezone(ZoneInfo(hub.time_zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def wallboard(*, now: datetime) -> list[HubBoard]:
    boards = []
    for hub in Hub.objects.all():
        start, end = hub_today(hub, now)
        boards.append(hub_measures(hub=hub, start=start, end=end, now=now))
    return boards


def agent_presence(*, user: object) -> AgentPresence | None:
    pk = getattr(user, "pk", None)
    return _presence.first(user_id=pk) if pk is not None else None


# Read on every console response that draws the call bar: compiled once per connection.
_presence: Compiled[AgentPresence] = Compiled(
    lambda user_id: AgentPresence.objects.filter(user_id=user_id).order_by("pk")[:1],
    user_id=stand_in_id(),
)


def agent_answered_call(*, user: object) -> Call | None:
    """The console call opened for the agent's answered hub call, while it is open."""
    hub_call = (
        HubCall.objects.filter(
            agent_id=getattr(user, "pk", None),
            call__agent_id=getattr(user, "pk", None),
            call__ended_at__isnull=True,
        )
        .exclude(call__isnull=True)
        .select_related("call")
        .order_by("-answered_at", "-pk")
        .first()
    )
    return hub_call.call if hub_call else None


def hub_call_routing(*, sid: str) -> tuple[str, str] | None:
    """Where the hub has put a platform call: its state and, when an agent is being rung
    for it, that agent's username (the name the platform rings them by)."""
    row = HubCall.objects.filter(sid=sid).values_list("state", "agent__username").first()
    if row is None:
        return None
    return str(row[0]), str(row[1] or "")
