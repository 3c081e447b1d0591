"""Which settings module a process runs with.

Production is the default: a server started without being told otherwise gets secure
cookies, HSTS, TLS redirects and a mandatory ``SECRET_KEY``. The demo and developers ask
for the relaxed settings with ``HUB_ENV=development`` (``make run`` does).
"""

from __future__ import annotations

import os

DEVELOPMENT = "development"
PRODUCTION = "production"
MODULES = {DEVELOPMENT: "config.settings.base", PRODUCTION: "config.settings.production"}
ERR_HUB_ENV = "HUB_ENV must be 'development' or 'production', got {!r}"


def hub_env() -> str:
    value = os.environ.get("HUB_ENV", "").strip().lower() or PRODUCTION
    if value not in MODULES:
        # Not ImproperlyConfigured: this runs before Django is importable in wsgi.py.
        raise RuntimeError(ERR_HUB_ENV.format(value))
    return value


def settings_module() -> str:
    """The module wsgi, asgi and run_hub use unless DJANGO_SETTINGS_MODULE says otherwise."""
    return MODULES[hub_env()]
