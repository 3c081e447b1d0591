"""The agent console. Every action is a POST carrying opaque ids in its body: no patient
data, and no patient id, ever appears in a console URL."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "console"
urlpatterns = [
    path("", views.console_home, name="home"),
    path("call/start/", views.call_start, name="call_start"),
    path("call/wrap-up/", views.call_wrap_up, name="call_wrap_up"),
    path("patients/search/", views.search, name="search"),
    path("patients/open/", views.patient_open, name="patient_open"),
    path("patients/register/", views.register, name="register"),
    path("slots/", views.slots, name="slots"),
    path("hold/", views.hold, name="hold"),
    path("hold/release/", views.release, name="release"),
    path("book/", views.book, name="book"),
    path("appointments/reschedule/start/", views.reschedule_start, name="reschedule_start"),
    path("appointments/reschedule/", views.reschedule, name="reschedule"),
    path("appointments/cancel/", views.cancel, name="cancel"),
    path("waitlist/add/", views.waitlist_add, name="waitlist_add"),
]
