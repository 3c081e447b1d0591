"""The one retry policy of the integrations: inbound processing and the outbox relay.

A transient failure (database busy, receiver down, AR) is tried again after an
exponential backoff; after ``max_attempts()`` attempts the ledger row is dead-lettered
so its queue moves on and a person can replay it. A permanent failure never comes here:
it is rejected or dead-lettered at once. Settings are read on every call so tests and
operators can change them without a restart of the code under test.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings


def max_attempts() -> int:
    """Attempts before a row is dead-lettered (``INTEGRATIONS_MAX_ATTEMPTS``)."""
    return int(settings.INTEGRATIONS_MAX_ATTEMPTS)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: base · 2^(attempts-1), capped
    (``INTEGRATIONS_RETRY_BASE_SECONDS``, ``INTEGRATIONS_RETRY_CAP_SECONDS``)."""
    base = float(settings.INTEGRATIONS_RETRY_BASE_SECONDS)
    cap = float(settings.INTEGRATIONS_RETRY_CAP_SECONDS)
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))


def exhausted(attempts: int) -> bool:
    """True when a row that has failed ``attempts`` times must be dead-lettered."""
    return attempts >= max_attempts()
