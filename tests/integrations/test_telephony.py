"""The telephony webhook: Twilio's signed status callbacks, stored before the answer,
once per event, mapped from the documented parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from integrations.models import TelephonyEvent
from integrations.telephony import twilio
from integrations.telephony.sandbox import SandboxTelephony
from integrations.telephony.views import ERR_SIGNATURE
from scheduling.hubs import events as ev
from scheduling.models import Callback, HubCall, Presence
from tests.scheduling.hub_world import NORTH_LINE, T0, hubs, presence, staff

pytestmark = pytest.mark.django_db
URL = "/integrations/telephony/events/"
TOKEN = "test-auth-token-0123456789abcdef"
S = timedelta(seconds=1)

# A parent-leg status callback as Twilio documents it (Call resource, StatusCallback).
DOC_RINGING = {
    "AccountSid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
    "ApiVersion": "2010-04-01",
    "CallSid": "CA1234567890abcdef1234567890abcdef",
    "CallStatus": "ringing",
    "Called": "+13035550000",
    "Caller": "+13035550100",
    "CallbackSource": "call-progress-events",
    "Direction": "inbound",
    "From": "+13035550100",
    "SequenceNumber": "0",
    "Timestamp": "Tue, 01 Dec 2026 16:00:00 +0000",
    "To": "+13035550000",
}


@pytest.fixture(autouse=True)
def _token(settings):
    settings.TELEPHONY_AUTH_TOKEN = TOKEN
    settings.TELEPHONY_WEBHOOK_URL = ""


def post(client: Client, params: dict[str, str], signature: str | None = None):
    if signature is None:
        signature = twilio.sign(auth_token=TOKEN, url=f"http://testserver{URL}", params=params)
    return client.post(URL, params, headers={twilio.SIGNATURE_HEADER: signature})


@pytest.fixture
def phone(client) -> SandboxTelephony:
    def transport(params: dict[str, str], signature: str) -> int:
        return post(client, params, signature).status_code

    return SandboxTelephony(url=f"http://testserver{URL}", transport=transport, auth_token=TOKEN)


def test_it_refuses_an_unsigned_event(client):
    hubs()
    response = client.post(URL, DOC_RINGING)
    assert response.status_code == 403
    assert response.content.decode() == ERR_SIGNATURE
    assert not TelephonyEvent.objects.exists()
    assert not HubCall.objects.exists()


def test_it_refuses_a_signature_over_other_parameters(client):
    forged = twilio.sign(auth_token=TOKEN, url=f"http://testserver{URL}", params=DOC_RINGING)
    response = post(client, {**DOC_RINGING, "From": "+19995550100"}, forged)
    assert response.status_code == 403


def test_it_refuses_everything_without_a_configured_token(client, settings):
    settings.TELEPHONY_AUTH_TOKEN = ""
    assert post(client, DOC_RINGING).status_code == 403


def test_a_signed_offer_is_stored_then_queued(client):
    w = hubs()
    response = post(client, DOC_RINGING)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    row = TelephonyEvent.objects.get()
    assert (row.event_id, row.status) == (f"{DOC_RINGING['CallSid']}:0", "applied")
    assert row.payload["From"] == "+13035550100"
    hc = HubCall.objects.get(sid=DOC_RINGING["CallSid"])
    assert (hc.hub, hc.caller_phone, hc.offered_at) == (w.north, "3035550100", T0)


def test_a_retried_event_is_acknowledged_and_applied_once(client):
    hubs()
    for _ in range(3):
        assert post(client, DOC_RINGING).status_code == 200
    assert TelephonyEvent.objects.count() == 1
    assert HubCall.objects.get().decisions.filter(kind="queued").count() == 1


def test_unreadable_signed_events_get_a_clear_400(client):
    response = post(client, {**DOC_RINGING, "Timestamp": "yesterday"})
    assert response.status_code == 400
    assert response.content.decode() == twilio.ERR_BAD_TIMESTAMP
    response = post(client, {k: v for k, v in DOC_RINGING.items() if k != "CallSid"})
    assert response.content.decode() == twilio.ERR_NO_CALL_SID


@pytest.mark.parametrize(
    ("params", "kind", "sid", "agent"),
    [
        (DOC_RINGING, ev.OFFERED, "CA1234567890abcdef1234567890abcdef", ""),
        ({**DOC_RINGING, "CallStatus": "completed"}, ev.ENDED, DOC_RINGING["CallSid"], ""),
        ({**DOC_RINGING, "CallStatus": "no-answer"}, ev.ABANDONED, DOC_RINGING["CallSid"], ""),
        (
            {
                **DOC_RINGING,
                "CallSid": "CAchild",
                "ParentCallSid": "CAparent",
                "Direction": "outbound-dial",
                "To": "client:alice",
                "CallStatus": "in-progress",
            },
            ev.ANSWERED,
            "CAparent",
            "alice",
        ),
        ({"CallSid": "CAparent", "Digits": "1"}, ev.CALLBACK_REQUESTED, "CAparent", ""),
    ],
)
def test_documented_parameters_map_to_call_events(params, kind, sid, agent):
    mapped = twilio.map_request(params, received_at=T0)
    assert mapped.event is not None
    assert (mapped.event.kind, mapped.event.sid, mapped.event.agent) == (kind, sid, agent)
    assert mapped.event.at == T0


def test_a_ringing_agent_leg_changes_nothing():
    params = {**DOC_RINGING, "ParentCallSid": "CAp", "To": "client:alice"}
    assert twilio.map_request(params, received_at=T0).event is None


def test_a_sandbox_call_is_answered_ended_and_wrapped_through_the_webhook(phone):
    w = hubs()
    alice = staff(w.north, "alice")
    sid = phone.new_sid()
    assert phone.place(sid=sid, caller="3035550100", dialed=NORTH_LINE, at=T0) == 200
    assert HubCall.objects.get(sid=sid).agent == alice
    phone.answer(sid=sid, agent="alice", at=T0 + 4 * S)
    assert presence(alice).state == Presence.ON_CALL
    phone.hang_up(sid=sid, at=T0 + 200 * S)
    hc = HubCall.objects.get(sid=sid)
    assert (hc.state, hc.answered_at, hc.ended_at) == ("ended", T0 + 4 * S, T0 + 200 * S)
    assert presence(alice).state == Presence.WRAP_UP


def test_events_replayed_out_of_order_through_the_webhook_end_in_the_same_call(client, phone):
    w = hubs()
    staff(w.north, "alice", state=Presence.AWAY)
    sent: list[tuple[dict[str, str], str]] = []
    phone.transport = lambda params, sig: sent.append((params, sig)) or 200
    sid = phone.new_sid()
    phone.place(sid=sid, caller="3035550100", dialed=NORTH_LINE, at=T0)
    phone.answer(sid=sid, agent="alice", at=T0 + 4 * S)
    phone.hang_up(sid=sid, at=T0 + 200 * S)
    for params, sig in [*reversed(sent), *sent]:
        assert post(client, params, sig).status_code == 200
    hc = HubCall.objects.get(sid=sid)
    assert (hc.state, hc.offered_at, hc.answered_at, hc.ended_at) == (
        "ended",
        T0,
        T0 + 4 * S,
        T0 + 200 * S,
    )
    assert TelephonyEvent.objects.count() == 3


def test_pressing_the_callback_digit_leaves_a_callback(phone):
    hubs()
    sid = phone.new_sid()
    phone.place(sid=sid, caller="3035550177", dialed=NORTH_LINE, at=datetime.now(tz=UTC))
    phone.press(sid=sid, digits="1", at=datetime.now(tz=UTC))
    callback = Callback.objects.get(hub_call__sid=sid)
    assert callback.phone == "3035550177"
    assert callback.status == Callback.Status.OPEN


def _caller(status: str, sequence: str, **extra: str) -> dict[str, str]:
    return {**DOC_RINGING, "CallStatus": status, "SequenceNumber": sequence, **extra}


def test_the_answer_to_an_offer_rings_the_agent_the_hub_chose(client):
    w = hubs()
    staff(w.north, "bea", idle_since=T0 - 300 * S)
    staff(w.north, "alice", idle_since=T0 - 900 * S)  # idle longest

    body = post(client, DOC_RINGING).content.decode()

    assert "<Dial" in body and "<Client" in body and ">alice</Client>" in body
    assert f'statusCallback="http://testserver{URL}"' in body
    assert HubCall.objects.get().agent.username == "alice"


def test_with_nobody_free_the_caller_holds_and_can_ask_for_a_callback(client):
    w = hubs()
    staff(w.north, "bea", state=Presence.AWAY)

    holding = post(client, DOC_RINGING).content.decode()

    assert "<Gather" in holding and "Press 1" in holding and "<Redirect" in holding
    accepted = post(client, _caller("in-progress", "", Digits="1")).content.decode()
    assert "call you back" in accepted and "<Hangup" in accepted
    assert HubCall.objects.get().state == "callback"
    assert Callback.objects.count() == 1


def test_a_call_that_ended_gets_an_empty_answer(client):
    hubs()
    post(client, DOC_RINGING)

    body = post(client, _caller("completed", "3")).content.decode()

    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
