"""Production: what ``HUB_ENV`` unset (or ``production``) runs. ``manage.py check --deploy``
passes with these and a real ``SECRET_KEY`` and ``ALLOWED_HOSTS``."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from config.logs import logging_config

from .base import *  # noqa: F403
from .base import env_bool, env_int

if not os.environ.get("SECRET_KEY"):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set in production (or run with HUB_ENV=development for the demo)"
    )
if env_bool("DEBUG", False):
    raise ImproperlyConfigured("DEBUG must be off in production; use HUB_ENV=development")
DEBUG = False

# ---------------------------------------------------------------------------
# TLS, cookies, HSTS
# ---------------------------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
# The TLS terminator in front of gunicorn says the request came in over HTTPS.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# MLLP peers authenticate and nothing travels in clear unless a connector says so.
INTEGRATIONS_REQUIRE_SECURE_TRANSPORT = env_bool("INTEGRATIONS_REQUIRE_SECURE_TRANSPORT", True)

# ---------------------------------------------------------------------------
# Shared cache: login throttles and token rate limits must hold across every gunicorn
# worker and node, so a per-process cache is not good enough here.
# ---------------------------------------------------------------------------
if not os.environ.get("CACHE_URL", "").strip():
    raise ImproperlyConfigured(
        "CACHE_URL must name the shared Redis cache in production (redis://HOST:6379/DB), "
        "so that rate limits and sign-in throttles hold across processes"
    )

# ---------------------------------------------------------------------------
# Logs: one JSON object per line for the log shipper (HUB_LOG_JSON=0 for a terminal).
# ---------------------------------------------------------------------------
HUB_LOG_JSON = env_bool("HUB_LOG_JSON", True)
LOGGING = logging_config(json_lines=HUB_LOG_JSON, level=os.environ.get("LOG_LEVEL", "INFO"))
