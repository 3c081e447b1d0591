"""Bad configuration stops the process with a message a person can act on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def boot(**env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL"}}
    full.update(env, DJANGO_SETTINGS_MODULE="config.settings.base")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("url", ["not a url", "mysql://db/x", "postgresql://"])
def test_a_malformed_database_url_is_refused_clearly(url):
    result = boot(DATABASE_URL=url)
    assert result.returncode != 0
    assert "DATABASE_URL is malformed" in result.stderr
    assert url not in result.stderr or url in {"mysql://db/x"}  # never echo credentials back


def test_a_malformed_broker_url_is_refused_clearly():
    result = boot(CELERY_BROKER_URL="localhost:6379")
    assert result.returncode != 0
    assert "CELERY_BROKER_URL is malformed" in result.stderr


def test_nothing_set_boots_on_the_embedded_defaults():
    result = boot()
    assert result.returncode == 0, result.stderr
