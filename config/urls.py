from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver, include, path

from . import views
from .security import mfa_views

handler404 = "config.views.not_found"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path(
        "accounts/login/",
        login_not_required(
            auth_views.LoginView.as_view(extra_context={"oidc_enabled": settings.OIDC_ENABLED})
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/mfa/", mfa_views.mfa_verify, name="mfa-verify"),
    path("accounts/mfa/setup/", mfa_views.mfa_setup, name="mfa-setup"),
    path("admin/", admin.site.urls),
    path("console/", include("scheduling.console.urls")),
    path("kpi/", include("scheduling.kpi.urls")),
    path("schedule/", include("scheduling.changes.urls")),
    path("billing/", include("billing.urls")),
    path("integrations/", include("integrations.urls")),
    path("book/", include("scheduling.engagement.urls")),
    path("fhir/r4/", include("integrations.fhir.urls")),
    path("api/v1/", include("config.api_urls")),
    path("compliance/", include("config.compliance.urls")),
    path("metrics", include("integrations.metrics_urls")),
]

if settings.OIDC_ENABLED:
    from mozilla_django_oidc import views as oidc_views

    # The sign-in round trip happens before there is a user to require.
    urlpatterns += [
        path(
            "oidc/authenticate/",
            login_not_required(oidc_views.OIDCAuthenticationRequestView.as_view()),
            name="oidc_authentication_init",
        ),
        path(
            "oidc/callback/",
            login_not_required(oidc_views.OIDCAuthenticationCallbackView.as_view()),
            name="oidc_authentication_callback",
        ),
    ]
