from __future__ import annotations

from django.urls import path

from . import views

app_name = "billing"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("claims/<int:claim_id>/", views.claim_detail, name="claim"),
    path("appointments/<int:appointment_id>/", views.appointment, name="appointment"),
    path("ar/", views.ar_aging, name="ar"),
    path("denials/", views.denials, name="denials"),
    path("remittances/unmatched/", views.unmatched, name="unmatched"),
    path("remittances/unmatched/<int:line_id>/match/", views.unmatched_match, name="match"),
    path("eligibility/", views.eligibility, name="eligibility"),
]
