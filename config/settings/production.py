from __future__ import annotations

import os

from .base import *  # noqa: F403
from .base import env_bool

if not os.environ.get("SECRET_KEY"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be set in production")

SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = 31536000
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# MLLP peers authenticate and nothing travels in clear unless a connector says so.
INTEGRATIONS_REQUIRE_SECURE_TRANSPORT = env_bool("INTEGRATIONS_REQUIRE_SECURE_TRANSPORT", True)
