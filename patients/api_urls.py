"""Patients' part of /api/v1/ (see config/api_urls.py for why login_not_required).

Search and context read appointments too, so they are served by scheduling's API at
their /api/v1/patients/ paths."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api

urlpatterns = [
    path("patients/", login_not_required(api.PatientRegisterView.as_view()), name="api-patients"),
]
