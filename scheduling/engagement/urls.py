from __future__ import annotations

from django.urls import path

from . import views

app_name = "book"
urlpatterns = [
    path("", views.book, name="group"),
    path("<slug:location_code>/", views.book, name="location"),
]
