"""What a web worker loads before its first request instead of during it.

A new gunicorn worker's first slot search used to load the ZIP data (about half a second
of CPU) and build the network snapshot; its first console page compiled the console's
templates. After a deploy or a worker restart every worker paid this on a caller's
request, all at once when the agents were already on the phones.
"""

from __future__ import annotations

import logging

from django.template.loader import get_template
from django.utils import timezone

from .geo import zip_index_load
from .rules.snapshot import network_snapshot

logger = logging.getLogger(__name__)

CONSOLE_TEMPLATES = (
    "console/console.html",
    "console/_slots.html",
    "console/worklist.html",
    "console/_series.html",
    "console/_series_setup.html",
)


def caches_warm() -> None:
    """Load the ZIP index, the network snapshot and the console's templates."""
    zip_index_load()
    for name in CONSOLE_TEMPLATES:
        get_template(name)
    network_snapshot(on=timezone.localdate())
