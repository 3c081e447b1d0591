"""Patients' part of /api/v1/ (see config/api_urls.py for why login_not_required)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import api

urlpatterns = [
    path("patients/", login_not_required(api.PatientRegisterView.as_view()), name="api-patients"),
    path(
        "patients/search/",
        login_not_required(api.PatientSearchView.as_view()),
        name="api-patient-search",
    ),
    path(
        "patients/<int:patient_id>/context/",
        login_not_required(api.PatientContextView.as_view()),
        name="api-patient-context",
    ),
]
