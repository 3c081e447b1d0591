from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [path("events/", views.telephony_events, name="telephony_events")]
