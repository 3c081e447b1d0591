from __future__ import annotations

from django.urls import path, re_path

from . import views

app_name = "fhir"
urlpatterns = [
    path("metadata", views.metadata, name="metadata"),
    re_path(
        r"^Appointment/\$(?P<operation>[a-z]+)$", views.appointment_operation, name="operation"
    ),
    path("<str:resource_type>/_search", views.search_post, name="search"),
    path("<str:resource_type>/<str:resource_id>", views.instance_endpoint, name="read"),
    path("<str:resource_type>", views.type_endpoint, name="type"),
    # Anything else under the base (an id holding "/", a deeper path) is still a FHIR
    # request, answered with an OperationOutcome rather than the site's HTML 404 page.
    re_path(r"^.*$", views.unknown_path, name="unknown"),
]
