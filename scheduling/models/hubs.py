"""Federated hubs: teams of agents serving regions, their queues, agents' presence and
every routing decision. Telephony platforms feed these through ``integrations.telephony``;
nothing here knows a wire format."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.crypto.fields import EncryptedCharField

from .booking import Call
from .network import Region


class Hub(models.Model):
    """A regional hub: agents who take the calls of one or more regions."""

    name = models.CharField(max_length=100, unique=True)
    # "Today" on the wallboard is the hub's own day.
    time_zone = models.CharField(max_length=64, default="America/Denver")
    # The central overflow rule: a call waiting too long here becomes eligible for
    # the agents of this other hub as well (it stays in its own hub's queue too).
    overflow_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="overflow_from"
    )
    overflow_enabled = models.BooleanField(default=True)
    overflow_after_seconds = models.PositiveIntegerField(default=45)
    overflow_queue_length = models.PositiveIntegerField(
        default=8, help_text="Overflow a new call at once when this many already wait"
    )
    callback_offer_seconds = models.PositiveIntegerField(
        default=120, help_text="Offer a callback to a caller waiting this long"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HubRegion(models.Model):
    """Which hub takes a region's calls: one hub per region, held by the database."""

    hub = models.ForeignKey(Hub, on_delete=models.CASCADE, related_name="hub_regions")
    region = models.OneToOneField(Region, on_delete=models.CASCADE, related_name="hub_region")

    def __str__(self) -> str:
        return f"{self.region} → {self.hub}"


class HubLine(models.Model):
    """A number patients dial. A line with a region routes there; a line without one
    (the group's main number) routes by the caller's home location."""

    number = models.CharField(max_length=20, unique=True, help_text="Digits only")
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL)
    urgent = models.BooleanField(default=False, help_text="Calls on this line go first")
    label = models.CharField(max_length=60, blank=True)

    def __str__(self) -> str:
        return self.label or self.number


class Presence(models.TextChoices):
    AVAILABLE = "available", "Available"
    ON_CALL = "on_call", "On call"
    WRAP_UP = "wrap_up", "Wrap-up"
    AWAY = "away", "Away"


class HubCall(models.Model):
    """One telephone call as the platform reported it, from offer to end."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting"
        ASSIGNED = "assigned", "Ringing an agent"
        ANSWERED = "answered", "Answered"
        ENDED = "ended", "Ended"
        ABANDONED = "abandoned", "Abandoned"
        CALLBACK = "callback", "Left for a callback"

    sid = models.CharField(max_length=64, unique=True, help_text="The platform's call id")
    hub = models.ForeignKey(Hub, null=True, on_delete=models.PROTECT, related_name="calls")
    overflow_hub = models.ForeignKey(
        Hub, null=True, blank=True, on_delete=models.PROTECT, related_name="overflow_calls"
    )
    caller_phone = EncryptedCharField(max_length=20, blank=True)
    dialed = models.CharField(max_length=20, blank=True)
    urgent = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.WAITING)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hub_calls",
    )
    # The console call opened for the agent when they answered (the screen pop).
    call = models.OneToOneField(
        Call, null=True, blank=True, on_delete=models.SET_NULL, related_name="hub_call"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    wrapped_at = models.DateTimeField(null=True, blank=True)
    overflowed_at = models.DateTimeField(null=True, blank=True)
    callback_offered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-offered_at"]
        indexes = [
            # The queue: calls still waiting, urgent first then oldest.
            models.Index(
                fields=["hub", "-urgent", "offered_at"],
                condition=Q(state="waiting"),
                name="hubcall_waiting_idx",
            ),
            models.Index(fields=["offered_at"], name="hubcall_offered_idx"),
        ]

    def __str__(self) -> str:
        return f"Hub call #{self.pk}"


class AgentPresence(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    hub = models.ForeignKey(Hub, on_delete=models.PROTECT, related_name="agents")
    state = models.CharField(max_length=10, choices=Presence.choices, default=Presence.AWAY)
    state_since = models.DateTimeField()
    # Longest-idle routing orders available agents by this.
    idle_since = models.DateTimeField(null=True, blank=True)
    current_call = models.ForeignKey(
        HubCall, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the agent asked for while a call held them; applied when the call lets go.
    after_call = models.CharField(max_length=10, choices=Presence.choices, blank=True)

    class Meta:
        constraints = [
            # One call never rings two agents, whatever two routing processes decide.
            models.UniqueConstraint(
                fields=["current_call"],
                condition=Q(current_call__isnull=False),
                name="presence_one_agent_per_call",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.state}"


class RoutingDecision(models.Model):
    class Kind(models.TextChoices):
        QUEUED = "queued", "Queued"
        ASSIGNED = "assigned", "Assigned"
        ANSWERED = "answered", "Answered"
        TRANSFERRED = "transferred", "Transferred"
        OVERFLOWED = "overflowed", "Overflowed"
        CALLBACK_OFFERED = "callback_offered", "Callback offered"
        CALLBACK = "callback", "Callback taken"
        RETURNED = "returned", "Returned to queue"
        ENDED = "ended", "Ended"
        ABANDONED = "abandoned", "Abandoned"

    hub_call = models.ForeignKey(HubCall, on_delete=models.CASCADE, related_name="decisions")
    at = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    hub = models.ForeignKey(Hub, null=True, on_delete=models.PROTECT, related_name="+")
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    # Written by code from hub, line and region names; never from caller data.
    reason = models.CharField(max_length=200)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}"
