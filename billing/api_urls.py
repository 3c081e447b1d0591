"""This app's part of /api/v1/. DRF views here authenticate themselves (Bearer or session)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
