"""Structured logs: one JSON object per line, each carrying what ties it to its cause.

Every line names the request (``X-Request-ID``, taken from the proxy in front or made
here, and sent back), the Celery task, or the ledger message being processed, whichever
applies; the ids live in context variables, so code that logs never passes them along.
Log messages never hold PHI: ids, counts and exception class names only (a test runs
a full traffic pass and scans the log for the seeded patients' data).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.http import HttpRequest, HttpResponse
from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str] = ContextVar("request_id", default="")
task_id: ContextVar[str] = ContextVar("task_id", default="")
message_id: ContextVar[str] = ContextVar("message_id", default="")
requests_logger = logging.getLogger("config.requests")
tasks_logger = logging.getLogger("config.tasks")

HEADER = "X-Request-ID"
# A proxy's id is kept only when it is short and plain: it is echoed into every line
# and the response, so free text from a client must not get there.
_REQUEST_ID_OK = re.compile(r"[A-Za-z0-9._-]{8,64}")


def request_id_from(value: str | None) -> str:
    if value and _REQUEST_ID_OK.fullmatch(value):
        return value
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        rid = request_id_from(request.headers.get(HEADER))
        token = request_id.set(rid)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            match = getattr(request, "resolver_match", None)
            # The view's name, never the path or query: a FHIR search carries names there.
            requests_logger.info(
                "%s %s %s %.0f ms",
                request.method,
                (match.view_name if match else "") or "unresolved",
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response


@contextmanager
def logging_message(pk: int | str) -> Iterator[None]:
    """Lines logged inside carry ``message_id``: the ledger row being processed."""
    token = message_id.set(str(pk))
    try:
        yield
    finally:
        message_id.reset(token)


class ContextFilter(logging.Filter):
    """Adds the ids of the request, task and message in hand to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = (("req", request_id.get()), ("task", task_id.get()), ("msg", message_id.get()))
        record.request_id, record.task_id, record.message_id = (value for _, value in ids)
        shown = " ".join(f"{name}={value}" for name, value in ids if value)
        record.context = f" [{shown}]" if shown else ""
        return True


class HubJsonFormatter(JsonFormatter):
    """timestamp, level, logger, message, then the ids; empty ids are left out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault(
            "rename_fields", {"asctime": "timestamp", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("timestamp", False)
        super().__init__(*args, **kwargs)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("context", None)
        for name in ("request_id", "task_id", "message_id"):
            value = getattr(record, name, "")
            if value:
                log_data[name] = value
            else:
                log_data.pop(name, None)


def logging_config(*, json_lines: bool, level: str) -> dict[str, Any]:
    """Django's LOGGING: JSON lines, or a readable line with the same ids for a terminal."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "config.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "config.logs.HubJsonFormatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s%(context)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json" if json_lines else "plain",
                "filters": ["context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Request logs would carry query strings; PHI never goes in a URL, but the
            # default 4xx warnings add nothing an ops person needs.
            "django.request": {"level": "ERROR"},
            "axes": {"level": "WARNING"},
        },
    }


def connect_celery_signals() -> None:
    """Lines a worker logs while it runs a task carry the task's id."""
    from celery.signals import task_postrun, task_prerun

    def started(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        globals()["task_id"].set(task_id or "")
        tasks_logger.debug("task %s started", getattr(task, "name", "?"))

    def finished(task: Any = None, state: str | None = None, **_: Any) -> None:
        tasks_logger.debug("task %s finished: %s", getattr(task, "name", "?"), state)
        globals()["task_id"].set("")

    task_prerun.connect(started, weak=False)
    task_postrun.connect(finished, weak=False)
