"""Prometheus metrics kept in the process: request latency by view, worker queue depth.

Labels name views ("console:book"), never paths, so no id or PHI from a URL reaches a
label, and the number of series stays fixed.

With several gunicorn workers each process keeps its own samples; set
``PROMETHEUS_MULTIPROC_DIR`` (``run_hub`` does, under ``var/``) and prometheus-client
writes them to memory-mapped files there, which ``exposition`` merges at scrape time.
The directory must be emptied before the processes start, or old samples are summed in.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.registry import Collector

UNRESOLVED = "unresolved"  # no URL pattern matched (a 404 before any view ran)

REQUEST_LATENCY = Histogram(
    "carehub_http_request_duration_seconds",
    "Time from the request entering the middleware stack to the response leaving it.",
    ["view", "method", "status"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
# Only methods a client of ours sends; anything else is counted as one label value.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Outermost, so the time covers every other middleware too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        method = request.method if request.method in KNOWN_METHODS else "other"
        REQUEST_LATENCY.labels(
            view=(match.view_name if match else "") or UNRESOLVED,
            method=method,
            status=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - started)
        return response


def queue_depths() -> dict[str, int]:
    """Tasks waiting in each Celery queue: the Redis list's length, or the number of
    message files the embedded filesystem broker holds for the queue."""
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE]
    url = settings.CELERY_BROKER_URL
    if url.startswith(("redis://", "rediss://")):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        try:
            return {q: int(client.llen(q)) for q in queues}
        finally:
            client.close()
    if url == "filesystem://":
        folder = Path(settings.CELERY_BROKER_DIR)
        names = [p.name for p in folder.iterdir() if p.is_file()]
        # kombu names each file "<ms>_<uuid>.<queue>.msg".
        return {q: sum(1 for n in names if n.partition(".")[2] == f"{q}.msg") for q in queues}
    return {}


def exposition(collectors: Iterable[Collector]) -> tuple[bytes, str]:
    """The text exposition of this process's (or every process's) samples plus
    ``collectors``, which compute their values now."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    for collector in collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Forward(Collector):
    """The process-wide registry's samples, inside a per-scrape registry (so the
    scrape-time collectors are never registered globally)."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self):
        return self.source.collect()
