from __future__ import annotations

from django.urls import path

from . import views, wallboard

app_name = "kpi"
urlpatterns = [
    path("", views.kpi_page, name="overview"),
    path("drill/<slug:key>/", views.kpi_drill, name="drill"),
    path("wallboard/", wallboard.wallboard, name="wallboard"),
    path("<slug:section>/", views.kpi_page, name="section"),
]
