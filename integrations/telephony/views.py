"""The telephony webhook: signed, stored before it answers, applied after."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from twilio.twiml.voice_response import VoiceResponse

from scheduling.selectors.hubs import hub_call_routing

from . import twilio
from .ledger import telephony_event_apply_logged, telephony_event_store

ERR_SIGNATURE = "missing or invalid X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _webhook_url(request: HttpRequest) -> str:
    """The URL the platform signed: the configured public URL behind a proxy, else the
    one this request reached."""
    return settings.TELEPHONY_WEBHOOK_URL or request.build_absolute_uri()


@login_not_required
@csrf_exempt
@require_POST
def telephony_events(request: HttpRequest) -> HttpResponse:
    """Twilio Voice status callbacks and <Gather> actions (form-encoded POSTs)."""
    params = {k: request.POST.get(k, "") for k in request.POST}
    signed = twilio.signature_valid(
        auth_token=settings.TELEPHONY_AUTH_TOKEN,
        url=_webhook_url(request),
        params=params,
        signature=request.headers.get(twilio.SIGNATURE_HEADER, ""),
    )
    if not signed:
        return HttpResponse(ERR_SIGNATURE, status=403, content_type="text/plain")
    now = timezone.now()
    try:
        mapped = twilio.map_request(params, received_at=now)
    except twilio.TwilioPayloadError as e:
        return HttpResponse(str(e), status=400, content_type="text/plain")
    row, new = telephony_event_store(
        platform=twilio.PLATFORM, mapped=mapped, params=params, received_at=now
    )
    # Stored and committed: the platform may stop retrying whatever happens next.
    if new and mapped.event is not None:
        telephony_event_apply_logged(event_id=row.pk, event=mapped.event)
    if params.get("ParentCallSid"):
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    return HttpResponse(
        caller_twiml(mapped.call_sid, _webhook_url(request)), content_type="text/xml"
    )


HOLD_SECONDS = 10
WAIT_PROMPT = "All our agents are busy. Press 1 to be called back, or stay on the line."
CALLBACK_PROMPT = "Thank you. We will call you back shortly. Goodbye."
STATUS_EVENTS = "initiated ringing answered completed"


def caller_twiml(sid: str, url: str) -> str:
    """What the caller's leg does next, from where the hub's routing put the call: ring
    the agent it assigned (their leg reports back here, so the answer is an event), keep
    the caller on hold with the callback offer and ask again, or end after a callback was
    accepted. A call already answered, ended or unknown gets an empty answer: the
    platform's own flow goes on (the Dial's action request after the agent hangs up)."""
    routing = hub_call_routing(sid=sid)
    response = VoiceResponse()
    if routing is None:
        return EMPTY_TWIML
    state, agent = routing
    if state == "assigned" and agent:
        dial = response.dial(action=url, method="POST")
        dial.client(agent, status_callback=url, status_callback_event=STATUS_EVENTS)
    elif state == "waiting":
        gather = response.gather(num_digits=1, action=url, method="POST", timeout=HOLD_SECONDS)
        gather.say(WAIT_PROMPT)
        response.redirect(url, method="POST")
    elif state == "callback":
        response.say(CALLBACK_PROMPT)
        response.hangup()
    else:
        return EMPTY_TWIML
    return str(response)
