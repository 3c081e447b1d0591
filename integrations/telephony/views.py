"""The telephony webhook: signed, stored before it answers, applied after."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
