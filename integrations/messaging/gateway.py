"""The sandbox SMS gateway: Twilio's Messages API, served by the hub itself for the demo
and the tests, plus a page where a person reads what was sent and answers as the patient.

The API checks HTTP Basic auth (account SID, ``ENGAGEMENT_SANDBOX_SMS_TOKEN``) like
Twilio, answers Twilio's JSON, and lists messages by To and DateSent. An answer typed on
the page is signed with the same token and handed to the webhook's code path, exactly
what Twilio would post.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from email.utils import format_datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config.audit import audit_access
from config.permissions import VIEW_RAW_MESSAGE
from patients.models import Patient
from patients.selectors import patient_ids_by_phone

from ..models import Connector, SandboxSms
from .inbound import phone_digits
from .webhook import sms_apply_now, sms_store

ERR_AUTH = "Authenticate with the account SID and the sandbox auth token."
PAGE_ROWS = 100


def _authorized(request: HttpRequest, account_sid: str) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return user == account_sid and secrets.compare_digest(
        token, str(settings.ENGAGEMENT_SANDBOX_SMS_TOKEN)
    )


def _json(row: SandboxSms) -> dict[str, Any]:
    created = format_datetime(row.created_at)
    return {
        "sid": row.sid,
        "account_sid": row.account_sid,
        "to": row.to,
        "from": row.from_number,
        "body": row.body,
        "status": row.status,
        "direction": "outbound-api"
        if row.direction == SandboxSms.Direction.OUTBOUND
        else "inbound",
        "num_segments": "1",
        "date_created": created,
        "date_updated": created,
        "date_sent": created,
        "error_code": None,
        "error_message": None,
        "price": None,
        "api_version": "2010-04-01",
        "uri": f"/2010-04-01/Accounts/{row.account_sid}/Messages/{row.sid}.json",
    }


@login_not_required
@csrf_exempt
def messages_api(request: HttpRequest, account_sid: str) -> HttpResponse:
    """POST creates a message (To, From, Body); GET lists them, newest first."""
    if not _authorized(request, account_sid):
        return JsonResponse({"code": 20003, "message": ERR_AUTH, "status": 401}, status=401)
    if request.method == "POST":
        to, body = request.POST.get("To", ""), request.POST.get("Body", "")
        if not to or not body:
            error = {"code": 21604, "message": "A 'To' and a 'Body' are required.", "status": 400}
            return JsonResponse(error, status=400)
        row = SandboxSms.objects.create(
            sid=f"SM{secrets.token_hex(16)}",
            account_sid=account_sid,
            direction=SandboxSms.Direction.OUTBOUND,
            to=to[:20],
            from_number=request.POST.get("From", "")[:20],
            body=body[:1600],
            status="delivered",
            created_at=timezone.now(),
        )
        return JsonResponse(_json(row), status=201)
    to = request.GET.get("To", "")
    since = request.GET.get("DateSent>", "")
    rows = SandboxSms.objects.filter(
        account_sid=account_sid, direction=SandboxSms.Direction.OUTBOUND
    )
    if since:
        rows = rows.filter(created_at__date__gte=since[:10])
    found = [_json(r) for r in rows[:1000] if not to or r.to == to]
    page_size = int(request.GET.get("PageSize", "50") or 50)
    uri = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
    return JsonResponse(
        {
            "messages": found[:page_size],
            "first_page_uri": uri,
            "next_page_uri": None,
            "previous_page_uri": None,
            "page": 0,
            "page_size": page_size,
            "uri": uri,
        }
    )


def _sandbox_connector() -> Connector | None:
    return Connector.objects.filter(
        enabled=True,
        kind=Connector.Kind.SMS_TWILIO,
        role=Connector.Role.MESSAGING,
        credentials_ref="",
    ).first()


@permission_required(VIEW_RAW_MESSAGE, raise_exception=True)
def sandbox_page(request: HttpRequest) -> HttpResponse:
    """What the sandbox gateway carried, newest first, with a reply box per number."""
    rows = list(SandboxSms.objects.all()[:PAGE_ROWS])
    phones = {
        phone_digits(r.to if r.direction == SandboxSms.Direction.OUTBOUND else r.from_number)
        for r in rows
    }
    patient_ids = sorted({pid for phone in phones for pid in patient_ids_by_phone(phone)})
    audit_access(
        actor=request.user,
        instances=Patient.objects.filter(pk__in=patient_ids),
        surface="sms sandbox",
    )
    numbers = sorted({r.to for r in rows if r.direction == SandboxSms.Direction.OUTBOUND})
    return render(request, "integrations/sms_sandbox.html", {"rows": rows, "numbers": numbers})


@require_POST
@permission_required(VIEW_RAW_MESSAGE, raise_exception=True)
def sandbox_reply(request: HttpRequest) -> HttpResponse:
    """Answer as the patient: the gateway records the text and delivers it to the hub
    as Twilio would deliver it to the webhook."""
    connector = _sandbox_connector()
    number, body = request.POST.get("from", "")[:20], request.POST.get("body", "")[:1600]
    if connector is None or not number or not body.strip():
        return HttpResponse("Choose a number and type an answer.", status=400)
    row = SandboxSms.objects.create(
        sid=f"SM{secrets.token_hex(16)}",
        account_sid=connector.sending_application,
        direction=SandboxSms.Direction.INBOUND,
        to=connector.sending_facility,
        from_number=number,
        body=body,
        status="received",
        created_at=timezone.now(),
    )
    params = {
        "AccountSid": connector.sending_application,
        "MessageSid": row.sid,
        "SmsSid": row.sid,
        "From": number,
        "To": connector.sending_facility,
        "Body": body,
        "SmsStatus": "received",
        "NumMedia": "0",
    }
    stored = sms_store(connector=connector, params=params)
    if stored is not None:
        sms_apply_now(stored)
    return redirect("integrations:sms_sandbox")
