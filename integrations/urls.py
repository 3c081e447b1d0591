from __future__ import annotations

from django.urls import path

from . import views
from .messaging import gateway, webhook
from .telephony import views as telephony

app_name = "integrations"
urlpatterns = [
    path("health/", views.health, name="health"),
    path("telephony/events/", telephony.telephony_events, name="telephony_events"),
    path("sms/webhook/", webhook.sms_webhook, name="sms_webhook"),
    path("sms/sandbox/", gateway.sandbox_page, name="sms_sandbox"),
    path("sms/sandbox/reply/", gateway.sandbox_reply, name="sms_sandbox_reply"),
    # Twilio's Messages API path under the sandbox's base URL.
    path(
        "sms/sandbox/2010-04-01/Accounts/<str:account_sid>/Messages.json",
        gateway.messages_api,
        name="sms_sandbox_api",
    ),
]
