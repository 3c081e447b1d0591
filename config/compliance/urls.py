from __future__ import annotations

from django.urls import path

from . import views

app_name = "compliance"
urlpatterns = [
    path("", views.disclosures_page, name="disclosures"),
    path("export/", views.disclosures_export, name="export"),
]
