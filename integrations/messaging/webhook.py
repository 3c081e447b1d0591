"""The SMS provider's webhook: inbound texts and delivery receipts, Twilio-signed.

Every call must carry a valid ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the
sorted POST parameters under the account's auth token); an unsigned or forged call is
refused with 403 before anything is stored. A signed call is stored in the ledger and
committed before the answer (store, then acknowledge); a provider retry of the same
MessageSid finds it stored and has no second effect.
"""

from __future__ import annotations

import urllib.parse

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ..models import Connector, Message
from .inbound import RECEIPT, TEXT, phone_ordering_key
from .transport import sms_auth_token

ERR_UNSIGNED = "Missing X-Twilio-Signature."
ERR_FORGED = "Signature does not match."
ERR_ACCOUNT = "Unknown account."
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _connector(account_sid: str) -> Connector | None:
    return (
        Connector.objects.filter(
            enabled=True,
            kind=Connector.Kind.SMS_TWILIO,
            role=Connector.Role.MESSAGING,
            sending_application=account_sid,
        )
        .exclude(sending_application="")
        .first()
    )


def signature_valid(connector: Connector, url: str, params: dict[str, str], signature: str) -> bool:
    from twilio.request_validator import RequestValidator

    token = sms_auth_token(connector)
    return bool(token and signature) and RequestValidator(token).validate(url, params, signature)


def sms_store(*, connector: Connector, params: dict[str, str]) -> Message | None:
    """Store one provider call in the ledger (committed on return). None: a repeat."""
    receipt = "MessageStatus" in params and "Body" not in params
    sid = params.get("MessageSid", "") or params.get("SmsSid", "")
    raw = urllib.parse.urlencode(sorted(params.items()))
    try:
        with transaction.atomic():
            return Message.objects.create(
                connector=connector,
                direction=Message.Direction.INBOUND,
                protocol=Message.Protocol.SMS,
                message_type=RECEIPT if receipt else TEXT,
                sender=f"sms:{connector.pk}",
                control_id=f"{sid}:{params.get('MessageStatus', '')}"[:64] if receipt else sid,
                raw=raw,
                sha256=Message.hash_raw(raw),
                status=Message.Status.RECEIVED,
                ordering_key=phone_ordering_key(params.get("From", "")),
                received_at=timezone.now(),
            )
    except IntegrityError:
        return None


def sms_apply_now(message: Message) -> None:
    """Apply a stored call at once; a failure leaves it for the inbound sweep's retries."""
    from ..inbound import inbound_drain_keys

    inbound_drain_keys([message.ordering_key])


@login_not_required
@csrf_exempt
@require_POST
def sms_webhook(request: HttpRequest) -> HttpResponse:
    params = {key: request.POST.get(key, "") for key in request.POST}
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return HttpResponse(ERR_UNSIGNED, status=403, content_type="text/plain")
    connector = _connector(params.get("AccountSid", ""))
    if connector is None:
        return HttpResponse(ERR_ACCOUNT, status=403, content_type="text/plain")
    url = settings.ENGAGEMENT_SMS_WEBHOOK_URL or request.build_absolute_uri()
    if not signature_valid(connector, url, params, signature):
        return HttpResponse(ERR_FORGED, status=403, content_type="text/plain")
    stored = sms_store(connector=connector, params=params)
    if stored is not None:
        sms_apply_now(stored)
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")
