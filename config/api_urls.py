from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import api

# DRF authenticates these itself (Bearer token or session) and answers 401 as JSON, so
# the login-redirect middleware stands aside for them: each app's api_urls must wrap its
# views in login_not_required and keep DRF's IsAuthenticated (the default) or stricter.
urlpatterns = [
    path("me/", login_not_required(api.MeView.as_view()), name="api-me"),
    path("schema/", login_not_required(SpectacularAPIView.as_view()), name="api-schema"),
    path("", include("scheduling.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("integrations.api_urls")),
]
