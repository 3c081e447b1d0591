"""Stop the database mid-stream: the listener answers AR, the resend succeeds, nothing is lost.

The listener runs as its own process (``manage.py mllp_listen``) and reaches PostgreSQL
through a TCP proxy the test controls, so "the database is down" is real for the
listener (its connection is cut, new ones are refused) while the shared server and
every other database on it are untouched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from hl7.client import MLLPClient

from integrations.hl7v2.ack import ack_code
from integrations.models import Message

from .conftest import TcpProxy, database_url
from .hl7_samples import adt

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def proxied_listener():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite is a file, there is no server to lose")
    db = connection.settings_dict
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    env = {
        **os.environ,
        "DATABASE_URL": database_url("127.0.0.1", proxy.port),
        "DB_CONN_MAX_AGE": "600",
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "mllp_listen", "--port", "0", "--no-dispatch"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert "listening on" in line, line + (proc.stdout.read() if proc.poll() else "")
        port = int(line.rsplit(":", 1)[1])
        yield proxy, port
    finally:
        proc.terminate()
        proc.wait(20)
        proxy.stop()


def test_database_down_mid_stream_gets_ar_and_the_resend_loses_nothing(proxied_listener, pms):
    proxy, port = proxied_listener
    first = [adt(f"UP{i}", mrn=f"M{i}") for i in range(5)]
    during = [adt(f"DOWN{i}", mrn=f"M{i}") for i in range(5)]

    with MLLPClient("127.0.0.1", port) as client:
        before = [ack_code(client.send_message(m).decode()) for m in first]
        proxy.block()
        down = [ack_code(client.send_message(m).decode()) for m in during]
        proxy.unblock()
        # What a sender does with AR: send the same messages again.
        resent = [ack_code(client.send_message(m).decode()) for m in during]
        again = [ack_code(client.send_message(m).decode()) for m in first]

    assert before == ["AA"] * 5
    assert down == ["AR"] * 5
    assert resent == ["AA"] * 5
    assert again == ["AA"] * 5, "duplicates of stored messages get their original ACK"
    stored = sorted(Message.objects.filter(direction="in").values_list("control_id", flat=True))
    assert stored == sorted([f"UP{i}" for i in range(5)] + [f"DOWN{i}" for i in range(5)])
