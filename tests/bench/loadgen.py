"""What the concurrency benchmarks share: gunicorn started as production runs it, a small
HTTP client that behaves like a browser tab or an API client, and percentiles.

The benchmarks run against a seeded PostgreSQL database as it stands (no test database):
they add their own users, tokens, calls, holds and appointments to it, so point them at
a database made for benchmarking, never at one that matters.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]
PORTS = range(47000, 48000)  # this benchmark's share of the machine's ports
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def free_port() -> int:
    start = random.randrange(len(PORTS))
    for offset in range(len(PORTS)):
        port = PORTS[(start + offset) % len(PORTS)]
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 47000-47999")


def workers() -> int:
    """gunicorn's own advice, 2 x cores + 1 sync workers: a request spends part of its
    time waiting on PostgreSQL (and on row locks while booking), and the extra workers
    keep both cores busy meanwhile; more only adds memory and lock queues."""
    return int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1) + 1))


@contextmanager
def gunicorn(database_url: str, cache_url: str) -> Iterator[str]:
    """The production settings behind gunicorn, as a TLS terminator would front them
    (``X-Forwarded-Proto: https`` is sent by the clients). Yields the base URL.

    ``BENCH_SERVER_ROOT`` serves another checkout (a baseline) against the same database,
    so a before/after ratio can be measured in one sitting."""
    var_dir = Path(os.environ.get("HUB_VAR_DIR", ROOT / "var"))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CACHE_URL": cache_url,
        "HUB_ENV": "production",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-secret-key-" + "x" * 40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "HUB_DATA_KEYS_FILE": str(var_dir / "data_keys"),
        "HUB_BLIND_INDEX_KEY_FILE": str(var_dir / "blind_index_key"),
        "API_TOKEN_RATE_PER_MINUTE": "100000",
        "LOG_LEVEL": "WARNING",
        # cpu_seconds reads the database's CPU from the backends connected before and
        # after the timed phase; with production's 60 s a worker reconnects mid-run and
        # the closed backend's CPU is lost to the count (a 60 s console run read 0.6 ms).
        "DB_CONN_MAX_AGE": os.environ.get("BENCH_DB_CONN_MAX_AGE", "3600"),
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    root = Path(os.environ.get("BENCH_SERVER_ROOT", ROOT))
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", f"--workers={workers()}"]
    command += [f"--bind=127.0.0.1:{port}", "--backlog=256", "--log-level=warning"]
    # A sign-in runs the production password hasher, slow on purpose; on a loaded machine
    # it outlasts gunicorn's default 30 s, which would kill the worker mid-request.
    command += ["--timeout=180"]
    proc = subprocess.Popen(command, cwd=root, env=env)
    base = f"http://127.0.0.1:{port}"
    _SERVER_PIDS[base] = proc.pid
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                status, _, _ = Client(base).request("GET", "/accounts/login/")
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.5)
        yield base
    finally:
        _SERVER_PIDS.pop(base, None)
        proc.terminate()
        proc.wait(30)


_SERVER_PIDS: dict[str, int] = {}


def _cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_seconds(base: str, database_url: str) -> tuple[float, float]:
    """CPU seconds used so far by the gunicorn serving ``base`` (master and workers) and
    by the PostgreSQL backends connected to the benchmark's database. Read before and
    after a run, the difference is the run's cost whatever else loads the machine
    (backends keep their connection between requests: ``DB_CONN_MAX_AGE``)."""
    master = psutil.Process(_SERVER_PIDS[base])
    web = _cpu([master.pid, *(child.pid for child in master.children(recursive=True))])
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return web, _cpu([pid for (pid,) in rows])


@dataclass
class Client:
    """One browser tab or API client: its cookies, CSRF token and bearer token.

    Production marks cookies Secure; the clients speak plain HTTP to gunicorn as a TLS
    terminator would, so cookies are kept here rather than in a cookie jar that would
    refuse to send them."""

    base: str
    bearer: str = ""
    cookies: dict[str, str] = field(default_factory=dict)

    def request(
        self, method: str, path: str, data: dict[str, Any] | None = None, *, htmx: bool = False
    ) -> tuple[int, str, float]:
        """(status, body, milliseconds from sending to the last byte)."""
        parts = urllib.parse.urlsplit(self.base)
        headers = {
            "Host": parts.netloc,
            "X-Forwarded-Proto": "https",
            "Origin": f"https://{parts.netloc}",
            "Referer": f"https://{parts.netloc}/console/",
        }
        body = None
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
            if data is not None:
                body = json.dumps(data)
                headers["Content-Type"] = "application/json"
        elif data is not None:
            body = urllib.parse.urlencode(data, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        if htmx:
            headers["HX-Request"] = "true"
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
            elapsed = (time.perf_counter() - started) * 1000
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    self.cookies[key.strip()] = rest.split(";", 1)[0]
            return response.status, text, elapsed
        finally:
            conn.close()

    def sign_in(self, username: str, password: str) -> None:
        status, page, _ = self.request("GET", "/accounts/login/")
        match = CSRF_FIELD.search(page)
        assert status == 200 and match, status
        form = {"username": username, "password": password, "csrfmiddlewaretoken": match[1]}
        status, _, _ = self.request("POST", "/accounts/login/", form)
        assert status == 302, f"sign-in of {username} answered {status}"


class Timings:
    """Milliseconds per action, from many threads (list.append is atomic)."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def add(self, action: str, status: int, ms: float) -> None:
        self.samples[action].append(ms)
        self.statuses[action][status] += 1

    def table(self, order: list[str]) -> str:
        lines = [f"{'action':28} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses"]
        for action in order:
            s = self.samples.get(action)
            if not s:
                continue
            codes = " ".join(f"{k}x{v}" for k, v in sorted(self.statuses[action].items()))
            lines.append(
                f"{action:28} {len(s):6d} {statistics.median(s):8.0f} {p95(s):8.0f} "
                f"{max(s):8.0f}  {codes}"
            )
        return "\n".join(lines)

    def over(self, goal_ms: float) -> dict[str, int]:
        return {a: round(p95(s)) for a, s in self.samples.items() if p95(s) > goal_ms}
