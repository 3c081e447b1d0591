"""Real hub processes for scale-out tests and benches: Celery workers and MLLP listeners
started the way production starts them, on the test database and the test broker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url(application_name: str = "") -> str:
    db = connection.settings_dict
    if connection.vendor != "postgresql":
        return f"sqlite:///{db['NAME']}"
    url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"{url}?application_name={application_name}" if application_name else url


def multiprocess_stack_missing() -> str:
    """Why several processes cannot share this test run's stack ('' when they can)."""
    if connection.vendor != "postgresql":
        return "needs PostgreSQL: several processes write one database"
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return "needs Redis: several workers consume one broker"
    return ""


def _env(queue: str, application_name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(application_name),
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    env.setdefault("HUB_VAR_DIR", str(settings.VAR_DIR))
    env.update(extra or {})
    return env


@dataclass
class Fleet:
    queue: str
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def alive(self) -> None:
        for proc in self.workers:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"a worker died: {out[-2000:]}")


def _stop(procs: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM (a warm shutdown), then the output of each."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        outputs.append(out or "")
    return outputs


@contextmanager
def celery_workers(
    count: int, *, extra_env: dict[str, str] | None = None, ready_timeout: float = 90
) -> Iterator[Fleet]:
    """``count`` worker processes (solo pool: one task at a time each, so ``count`` is the
    concurrency) on a queue of their own; yields once every one answers a ping."""
    from config.celery import app

    run = uuid.uuid4().hex[:8]
    fleet = Fleet(queue=f"test-{run}")
    try:
        for i in range(count):
            name = f"w{i}-{run}@scale"
            fleet.names.append(name)
            fleet.workers.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "celery", "-A", "config", "worker"),
                        *("-Q", fleet.queue, "-n", name, "--pool", "solo"),
                        *("--loglevel", "WARNING", "--without-mingle", "--without-gossip"),
                    ],
                    cwd=ROOT,
                    env=_env(fleet.queue, f"worker-{i}", extra_env),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        deadline = time.monotonic() + ready_timeout
        while True:
            fleet.alive()
            replies = app.control.ping(destination=fleet.names, timeout=1.0)
            if len(replies) == count:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(replies)} of {count} workers answered")
        yield fleet
    finally:
        _stop(fleet.workers)


@dataclass
class Listeners:
    port: int
    procs: list[subprocess.Popen[str]] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)

    def stop(self) -> list[str]:
        """Stop every listener; each one's last line says how many frames it took."""
        if not self.stopped:
            self.stopped = _stop(self.procs)
        return self.stopped


@contextmanager
def mllp_listeners(count: int, *, queue: str) -> Iterator[Listeners]:
    """``count`` ``manage.py mllp_listen --reuse-port`` processes on one port of 127.0.0.1,
    dispatching to ``queue``: the kernel (SO_REUSEPORT) spreads connections over them."""
    group = Listeners(port=0)
    try:
        for i in range(count):
            proc = subprocess.Popen(
                [
                    *(sys.executable, "manage.py", "mllp_listen", "--reuse-port"),
                    *("--port", str(group.port)),
                ],
                cwd=ROOT,
                env=_env(queue, f"listener-{i}"),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            group.procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "listening on" in line, line
            group.port = int(line.rsplit(":", 1)[1])
        yield group
    finally:
        group.stop()
