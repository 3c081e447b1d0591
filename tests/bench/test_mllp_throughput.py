"""Benchmark: the MLLP listener's store-then-ACK throughput on one process.

The listener runs as its own process (manage.py mllp_listen, the production entry
point); senders are threads in this process. Every ACK is sent only after the batch
that holds its message has committed. Run with `make bench` (add DATABASE_URL for
PostgreSQL). Figures go to the README under "Integration engine".
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from integrations.models import Connector, Message
from tests import factories as f
from tests.integrations.conftest import database_url
from tests.integrations.hl7_samples import adt

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _listener():
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "mllp_listen", "--port", "0", "--no-dispatch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, int(line.rsplit(":", 1)[1])


def _send_wait(port: int, messages: list[str], latencies: list[float]) -> None:
    """What python-hl7's MLLPClient does: send one, wait for its ACK, send the next."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for message in messages:
            started = time.perf_counter()
            sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
            data = b""
            while b"\x1c\r" not in data:
                data += sock.recv(4096)
            latencies.append(time.perf_counter() - started)


def _pipelined(port: int, messages: list[str]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in messages))
        data = b""
        while data.count(b"\x1c\r") < len(messages):
            data += sock.recv(1 << 16)


@pytest.mark.parametrize("connections", [1, 8, 32])
def test_listener_throughput_send_and_wait(connections):
    Connector.objects.create(
        name="Bench PMS",
        kind="hl7v2_mllp",
        role="location_pms",
        location=f.location(),
        sending_application="DENPMS",
        sending_facility="DEN",
    )
    proc, port = _listener()
    try:
        per = 4000 // connections
        batches = [
            [adt(f"B{c}-{i}", mrn=f"M{c}-{i}") for i in range(per)] for c in range(connections)
        ]
        latencies: list[float] = []
        threads = [threading.Thread(target=_send_wait, args=(port, b, latencies)) for b in batches]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(20)
    total = per * connections
    assert Message.objects.count() == total
    latencies.sort()
    print(
        f"\n[mllp {connection.vendor}] {connections} connection(s), send-and-wait: "
        f"{total / elapsed:,.0f} msg/s; ACK latency median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms"
    )


def test_listener_throughput_pipelined():
    Connector.objects.create(
        name="Bench PMS",
        kind="hl7v2_mllp",
        role="location_pms",
        location=f.location(),
        sending_application="DENPMS",
        sending_facility="DEN",
    )
    proc, port = _listener()
    try:
        messages = [adt(f"P{i}", mrn=f"M{i}") for i in range(10000)]
        started = time.perf_counter()
        _pipelined(port, messages)
        elapsed = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(20)
    assert Message.objects.count() == len(messages)
    print(
        f"\n[mllp {connection.vendor}] 1 connection, pipelined: {len(messages) / elapsed:,.0f} msg/s"
    )
