#!/usr/bin/env python
from __future__ import annotations

import os
import sys


def main() -> None:
    # Management commands follow HUB_ENV when it is set (HUB_ENV=production manage.py
    # check --deploy); without it they keep the development settings developers expect.
    # Servers (wsgi, asgi, run_hub's processes) default to production instead.
    if os.environ.get("HUB_ENV"):
        from config.settings import settings_module

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
