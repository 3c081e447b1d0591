"""Sandbox telephony: a stand-in for Twilio that places calls and plays the agents'
phones, sending the same signed status callbacks Twilio sends, so the demo and the tests
drive the real webhook.

``SandboxTelephony`` makes the events of single calls; ``sandbox_day`` plays a day of
calls per region (``scheduling.hubs.traffic``) through them on a virtual clock: each
call is offered on its region's line, rung to the agent the hub assigns, answered,
held for its handle time and hung up, and the agent wraps up.
"""

from __future__ import annotations

import heapq
import itertools
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

from django.conf import settings
from django.contrib.auth.models import User

from scheduling.hubs.traffic import PlannedCall
from scheduling.models import Hub, HubCall
from scheduling.services import hub_queue_sweep, presence_wrap_done

from .twilio import SIGNATURE_HEADER, sign

ACCOUNT_SID = "AC" + "0" * 32
# (params, signature) -> HTTP status
Transport = Callable[[dict[str, str], str], int]


def http_transport(url: str) -> Transport:
    """POST form-encoded to a running hub, as Twilio does."""

    def post(params: dict[str, str], signature: str) -> int:
        body = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the hub's own webhook
            url, data=body, headers={SIGNATURE_HEADER: signature}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status)

    return post


@dataclass
class SandboxTelephony:
    url: str
    transport: Transport
    auth_token: str = field(default_factory=lambda: settings.TELEPHONY_AUTH_TOKEN)
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _sequence: dict[str, int] = field(default_factory=dict)
    _legs: dict[str, str] = field(default_factory=dict)

    def new_sid(self) -> str:
        return f"CA{next(self._sids):032x}"

    def _send(self, params: dict[str, str]) -> int:
        return self.transport(params, sign(auth_token=self.auth_token, url=self.url, params=params))

    def _status(self, sid: str, status: str, at: datetime, **extra: str) -> dict[str, str]:
        seq = self._sequence.get(sid, -1) + 1
        self._sequence[sid] = seq
        return {
            "AccountSid": ACCOUNT_SID,
            "ApiVersion": "2010-04-01",
            "CallSid": sid,
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "Timestamp": format_datetime(at),
            "SequenceNumber": str(seq),
            **extra,
        }

    def place(self, *, sid: str, caller: str, dialed: str, at: datetime) -> int:
        """The caller dials in: the inbound leg rings (an offer)."""
        extra = {"From": f"+1{caller}", "To": f"+1{dialed}", "Direction": "inbound"}
        extra |= {"Caller": extra["From"], "Called": extra["To"]}
        return self._send(self._status(sid, "ringing", at, **extra))

    def answer(self, *, sid: str, agent: str, at: datetime) -> int:
        """The agent picks up: the <Dial><Client> child leg is in progress."""
        leg = self._legs.setdefault(f"{sid}:{agent}", self.new_sid())
        extra = {"ParentCallSid": sid, "To": f"client:{agent}", "Direction": "outbound-dial"}
        return self._send(self._status(leg, "in-progress", at, **extra))

    def hang_up(self, *, sid: str, at: datetime, answered: bool = True) -> int:
        status = "completed" if answered else "canceled"
        return self._send(self._status(sid, status, at, Direction="inbound"))

    def press(self, *, sid: str, digits: str, at: datetime) -> int:
        """The caller pressed keys at the callback prompt (a <Gather> action)."""
        del at  # Twilio's <Gather> action carries no Timestamp
        return self._send({"AccountSid": ACCOUNT_SID, "CallSid": sid, "Digits": digits})


def sandbox_day(
    phone: SandboxTelephony,
    calls: list[PlannedCall],
    *,
    lines: dict[str, str],
    opens_at: datetime,
    callers: Callable[[int], str] = lambda i: f"555{i % 10_000_000:07d}",
) -> dict[str, int]:
    """Play ``calls`` (seconds after ``opens_at``) through the webhook on a virtual clock;
    ``lines`` maps each region to the number its callers dial. Returns counts."""
    queue: list[tuple[float, int, str, str]] = []
    order = itertools.count()
    for i, call in enumerate(calls):
        heapq.heappush(queue, (call.at, next(order), "offer", str(i)))
    sids: dict[str, int] = {}
    rung: set[str] = set()
    counts = {"offered": 0, "answered": 0}
    while queue:
        t, _, kind, key = heapq.heappop(queue)
        at = opens_at + timedelta(seconds=t)
        if kind == "offer":
            i = int(key)
            sid = phone.new_sid()
            sids[sid] = i
            phone.place(sid=sid, caller=callers(i), dialed=lines[calls[i].region], at=at)
            counts["offered"] += 1
            # Wake when this call's overflow falls due, as the beat's sweep would.
            hub = Hub.objects.filter(calls__sid=sid).first()
            if hub is not None:
                heapq.heappush(queue, (t + hub.overflow_after_seconds + 1, next(order), "tick", ""))
        elif kind == "end":
            phone.hang_up(sid=key, at=at)
            user = User.objects.get(hub_calls__sid=key)
            presence_wrap_done(user=user, now=at)
        # Overflow and callback offers fall due on the virtual clock too.
        hub_queue_sweep(now=at)
        # Ring every call the hub has just given an agent; the agent answers at once.
        assigned = HubCall.objects.filter(state=HubCall.State.ASSIGNED, sid__in=list(sids))
        for sid, username in assigned.exclude(sid__in=rung).values_list("sid", "agent__username"):
            rung.add(sid)
            phone.answer(sid=sid, agent=username, at=at)
            counts["answered"] += 1
            handle = calls[sids[sid]].handle_seconds
            heapq.heappush(queue, (t + handle, next(order), "end", sid))
    return counts
