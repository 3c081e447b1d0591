from __future__ import annotations

from django.urls import path

from . import views
from .telephony import views as telephony

app_name = "integrations"
urlpatterns = [
    path("health/", views.health, name="health"),
    path("telephony/events/", telephony.telephony_events, name="telephony_events"),
]
