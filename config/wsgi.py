from __future__ import annotations

import logging
import os

from django.apps import apps
from django.core.wsgi import get_wsgi_application
from django.db import connections

from config.settings import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
application = get_wsgi_application()


def _warm() -> None:
    """Each app's ``warm()``, as the worker starts: caches a first request would fill.

    A failure (the database not up yet) only leaves the caches to the first request, so
    it is logged, never raised: a worker that cannot warm must still serve."""
    for config in apps.get_app_configs():
        warm = getattr(config, "warm", None)
        if warm is None:
            continue
        try:
            warm()
        except Exception:
            logging.getLogger("config.wsgi").warning("warm-up of %s failed", config.label)
    # The request cycle opens its own connection; none is kept open from here.
    connections.close_all()


_warm()
