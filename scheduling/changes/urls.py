"""The schedule-changes page. Actions are POSTs with opaque ids in the body: no patient
data in these URLs."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "schedule"
urlpatterns = [
    path("changes/", views.changes, name="changes"),
    path("changes/time-off/", views.time_off, name="time_off"),
    path("changes/closure/", views.closure, name="closure"),
    path("changes/template/", views.template, name="template"),
    path("changes/template/end/", views.template_end, name="template_end"),
    path("changes/rebook/", views.rebook_one, name="rebook"),
    path("changes/rebook-all/", views.rebook_all, name="rebook_all"),
    path("changes/notify/", views.notify, name="notify"),
    path("changes/refresh/", views.refresh, name="refresh"),
    path("changes/cancel/", views.cancel, name="cancel"),
]
