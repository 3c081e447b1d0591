"""Real processes for the chaos cases: MLLP listeners, Celery workers, an HL7 sender.

Every case runs inside ``python -m tests.chaos.servers`` (``make chaos``), so the
database and the broker are servers the case may crash and restart.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from integrations.hl7v2.ack import ack_code
from integrations.mllp import END_BLOCK, START_BLOCK
from tests.integrations.conftest import database_url, mllp_server  # noqa: F401
from tests.integrations.conftest import pms as pms  # the same sender connector

from . import servers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def own_servers() -> tuple[servers.PgCluster, servers.RedisServer]:
    if "CHAOS_PG_DATA" not in os.environ:
        pytest.skip("run through `make chaos`: the cases need servers they may kill")
    return servers.cluster(), servers.broker()


@pytest.fixture
def cluster(own_servers) -> servers.PgCluster:
    return own_servers[0]


@pytest.fixture
def broker(own_servers) -> Iterator[servers.RedisServer]:
    yield own_servers[1]
    if not own_servers[1].up():  # a failed case must not leave the next without a broker
        own_servers[1].start()


def wait_for(predicate: Callable[[], object], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url(), "PYTHONUNBUFFERED": "1", **extra}
    env.setdefault("HUB_VAR_DIR", str(settings.VAR_DIR))
    return env


class Processes:
    """Starts hub processes and stops whatever is left of them at the end of a case."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[str]] = []
        self.queue = f"chaos-{uuid.uuid4().hex[:8]}"
        self.output: dict[int, list[str]] = {}

    def listener(self, *, dispatch: bool = False, **env: str) -> tuple[subprocess.Popen[str], int]:
        args = [sys.executable, "manage.py", "mllp_listen", "--port", "0"]
        proc = subprocess.Popen(
            args + ([] if dispatch else ["--no-dispatch"]),
            cwd=ROOT,
            env=_env(CELERY_TASK_DEFAULT_QUEUE=self.queue, DB_CONN_MAX_AGE="600", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.running.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening on" in line, line + (proc.stdout.read() if proc.poll() else "")
        self._drain(proc)
        return proc, int(line.rsplit(":", 1)[1])

    def worker(self, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                self.queue,
                "--pool",
                "solo",
                "--loglevel",
                "INFO",
                "--without-mingle",
                "--without-gossip",
                "-n",
                f"{uuid.uuid4().hex[:6]}@chaos",
            ],
            cwd=ROOT,
            env=_env(CELERY_TASK_DEFAULT_QUEUE=self.queue, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.running.append(proc)
        self._drain(proc)
        return proc

    def _drain(self, proc: subprocess.Popen[str]) -> None:
        """Read the process's output in a thread: a full pipe would block its logging and
        stall the process for reasons that are the test's, not the product's."""
        lines: list[str] = []
        self.output[proc.pid] = lines
        threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True).start()

    def log(self, proc: subprocess.Popen[str]) -> list[str]:
        """The worker's output so far (read by a thread, so its pipe never fills)."""
        return list(self.output[proc.pid])

    def finished(self, proc: subprocess.Popen[str], task: str) -> int:
        """How many runs of ``task`` the worker has finished (its INFO log)."""
        return sum(1 for line in self.log(proc) if f"{task}[" in line and " succeeded " in line)

    def stop(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.running:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.fixture
def processes() -> Iterator[Processes]:
    running = Processes()
    yield running
    running.stop()


def frame(message: str) -> bytes:
    return START_BLOCK + message.encode() + END_BLOCK


def control_id(message: str) -> str:
    return message.split("\r", 1)[0].split("|")[9]


class Sender:
    """A location system's interface engine: it keeps every message until an AA names it,
    and resends the rest. ``acks`` counts the AAs each control id received."""

    def __init__(self, port: int, *, timeout: float = 5) -> None:
        self.port, self.timeout = port, timeout
        self.acks: dict[str, int] = {}
        self.refused = 0  # AR answers, dropped connections and timeouts

    def send_one(self, message: str) -> bool:
        """One message on a fresh connection; True once it is acknowledged with AA."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout) as s:
                s.sendall(frame(message))
                answer = _read_frame(s)
        except OSError:
            answer = None
        if answer is not None and ack_code(answer) == "AA":
            self.acks[control_id(message)] = self.acks.get(control_id(message), 0) + 1
            return True
        self.refused += 1
        return False

    def send_until_acked(self, messages: list[str], *, pause: float = 0.2) -> None:
        for message in messages:
            deadline = time.monotonic() + 60
            while not self.send_one(message):
                assert time.monotonic() < deadline, f"{control_id(message)} never acknowledged"
                time.sleep(pause)


def _read_frame(s: socket.socket) -> str | None:
    data = b""
    while END_BLOCK not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk
    return data.split(START_BLOCK, 1)[-1].split(END_BLOCK, 1)[0].decode()


def stream(port: int, messages: list[str], *, chunk: int, on_acks: Callable[[int], None]):
    """Pipeline ``messages`` over one connection, ``chunk`` at a time, reading ACKs as they
    come; ``on_acks(n)`` runs after each ACK read. Returns the AA'd control ids in order
    (the stream ends early if the listener goes away)."""
    acked: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        sent = 0
        buffer = b""
        try:
            while len(acked) < len(messages):
                if sent < len(messages):
                    batch = messages[sent : sent + chunk]
                    s.sendall(b"".join(frame(m) for m in batch))
                    sent += len(batch)
                s.settimeout(0.05 if sent < len(messages) else 10)
                try:
                    chunk_in = s.recv(65536)
                except TimeoutError:
                    continue
                if not chunk_in:
                    break
                buffer += chunk_in
                while END_BLOCK in buffer:
                    one, buffer = buffer.split(END_BLOCK, 1)
                    ack = one.split(START_BLOCK, 1)[-1].decode()
                    if ack_code(ack) == "AA":
                        acked.append(_msa_control_id(ack))
                    on_acks(len(acked))
        except (ConnectionError, TimeoutError):
            pass
    return acked


def _msa_control_id(ack: str) -> str:
    msa = next(seg for seg in re.split(r"[\r\n]+", ack) if seg.startswith("MSA"))
    return msa.split("|")[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Bookings:
    """An agent booking slots at one location, through the console's services."""

    def __init__(self, agent, location) -> None:
        from datetime import timedelta

        from django.utils import timezone

        from tests import factories as f

        self.agent, self.location = agent, location
        self.provider = f.provider(locations=[location])
        self.kind = f.appointment_type(duration_minutes=30)
        self.next_start = timezone.now().replace(second=0, microsecond=0) + timedelta(days=3)

    def book(self, patient=None):
        from datetime import timedelta

        from scheduling import services
        from tests import factories as f

        slot = f.slot(provider=self.provider, location=self.location, start=self.next_start)
        self.next_start += timedelta(minutes=30)
        hold = services.hold_place(slot=slot, by=self.agent)
        return services.appointment_book(
            hold=hold,
            patient=patient or f.patient(),
            appointment_type=self.kind,
            by=self.agent,
            reason="new_problem",
        )


@pytest.fixture
def bookings(agent, pms) -> Bookings:
    return Bookings(agent, pms.location)
