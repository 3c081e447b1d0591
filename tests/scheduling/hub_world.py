"""Two hubs, North and South, each taking one region, with overflow to each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib.auth.models import Group, User
from django.utils import timezone

from config.roles import AGENT
from scheduling.hubs import events as ev
from scheduling.hubs.events import CallEvent
from scheduling.models import AgentPresence, Hub, HubLine, HubRegion, Presence
from tests import factories as f

T0 = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
NORTH_LINE = "3035550000"
SOUTH_LINE = "7195550000"
URGENT_LINE = "3035559111"
MAIN_LINE = "8005550000"


@dataclass
class Hubs:
    north: Hub
    south: Hub


def hubs() -> Hubs:
    north_region, south_region = f.region(), f.region()
    north = Hub.objects.create(name="North", overflow_after_seconds=45, overflow_queue_length=8)
    south = Hub.objects.create(name="South", overflow_to=north)
    north.overflow_to = south
    north.save()
    HubRegion.objects.create(hub=north, region=north_region)
    HubRegion.objects.create(hub=south, region=south_region)
    HubLine.objects.create(number=NORTH_LINE, region=north_region)
    HubLine.objects.create(number=SOUTH_LINE, region=south_region)
    HubLine.objects.create(number=URGENT_LINE, region=north_region, urgent=True)
    HubLine.objects.create(number=MAIN_LINE)
    return Hubs(north, south)


def staff(hub: Hub, name: str, *, state: str = Presence.AVAILABLE, idle_since=T0) -> User:
    user = User.objects.create_user(name, password="pw-for-tests-only")
    user.groups.add(Group.objects.get(name=AGENT))
    AgentPresence.objects.create(
        user=user, hub=hub, state=state, state_since=idle_since, idle_since=idle_since
    )
    return user


def offered(sid: str, at=T0, *, dialed: str = NORTH_LINE, caller: str = "3035550100") -> CallEvent:
    return CallEvent(ev.OFFERED, sid, at, caller=caller, dialed=dialed)


def answered(sid: str, agent: User, at=T0) -> CallEvent:
    return CallEvent(ev.ANSWERED, sid, at, agent=agent.username)


def ended(sid: str, at=T0) -> CallEvent:
    return CallEvent(ev.ENDED, sid, at)


def presence(user: User) -> AgentPresence:
    return AgentPresence.objects.get(user=user)


def now() -> datetime:
    return timezone.now()
