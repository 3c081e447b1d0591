"""The restore drill: ``pg_dump`` of a hub that is receiving HL7, a restore into a fresh
database, then the replay: every sender resends what it had acknowledged since the dump
began (a location's interface engine keeps what it sent; resending from a time is its
ordinary operation). The restored ledger holds every message once, and a worker on the
restored database applies each once.

Run with ``-s`` to see the figures quoted in the README (dump, restore, replay times).
"""

from __future__ import annotations

import subprocess
import threading
import time

import psycopg
import pytest
from django.db import connection

from integrations.tasks import inbound_sweep_task
from tests.integrations.hl7_samples import adt

from .conftest import Sender, database_url, wait_for
from .servers import pg_bin

pytestmark = [pytest.mark.chaos, pytest.mark.django_db(transaction=True)]

TOTAL = 150


class LoggingSender(Sender):
    """Remembers when each message was first acknowledged: its resend log."""

    def __init__(self, port: int) -> None:
        super().__init__(port)
        self.acked_at: dict[str, float] = {}

    def send_one(self, message: str) -> bool:
        ok = super().send_one(message)
        if ok:
            self.acked_at.setdefault(message.split("|")[9], time.monotonic())
        return ok


def _count(dsn: str, sql: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
        return int(row[0]) if row else 0


def test_dump_while_receiving_restore_and_replay_loses_nothing(processes, pms, cluster, tmp_path):
    messages = [
        adt(f"BK{i:04d}", mrn=f"BK{i}", last=f"Backup{i}", dob=f"19{40 + i % 60}0{i % 9 + 1}11")
        for i in range(TOTAL)
    ]
    _, port = processes.listener()
    sender = LoggingSender(port)
    flowing = threading.Thread(
        target=sender.send_until_acked, args=(messages,), kwargs={"pause": 0}
    )
    flowing.start()
    wait_for(lambda: len(sender.acked_at) >= TOTAL // 3, "a third of the stream")

    source = database_url()
    dump = tmp_path / "hub.dump"
    dump_started = time.monotonic()
    subprocess.run([pg_bin("pg_dump"), "-Fc", "-f", str(dump), source], check=True)
    dump_seconds = time.monotonic() - dump_started
    flowing.join(120)
    assert len(sender.acked_at) == TOTAL
    in_dump_window = [c for c, at in sender.acked_at.items() if at >= dump_started]
    assert in_dump_window, "messages kept flowing while the dump ran"

    # The original database is lost; a fresh one is restored from the dump.
    name = f"{connection.settings_dict['NAME']}_restored"
    admin = source.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    restored = source.rsplit("/", 1)[0] + f"/{name}"
    try:
        restore_started = time.monotonic()
        subprocess.run([pg_bin("pg_restore"), "--no-owner", "-d", restored, str(dump)], check=True)
        restore_seconds = time.monotonic() - restore_started
        ledger = "SELECT count(*) FROM integrations_message WHERE direction = 'in'"
        in_dump = _count(restored, ledger)
        assert in_dump < TOTAL, "the dump misses what arrived after it began"

        replay_started = time.monotonic()
        _, port = processes.listener(DATABASE_URL=restored)
        replay = LoggingSender(port)
        replay.send_until_acked([m for m in messages if m.split("|")[9] in in_dump_window])
        replay_seconds = time.monotonic() - replay_started

        assert _count(restored, ledger) == TOTAL
        duplicates = (
            "SELECT count(*) FROM (SELECT control_id FROM integrations_message "
            "WHERE direction = 'in' GROUP BY control_id HAVING count(*) > 1) AS twice"
        )
        assert _count(restored, duplicates) == 0

        processes.worker(DATABASE_URL=restored)
        inbound_sweep_task.apply_async(queue=processes.queue)
        processed = f"{ledger} AND status = 'processed'"
        wait_for(lambda: _count(restored, processed) == TOTAL, "the restored hub to apply all")
        applied_seconds = time.monotonic() - restore_started
        patients = "SELECT count(*) FROM patients_patientidentifier WHERE system = 'DEN-PMS'"
        assert _count(restored, patients) == TOTAL
        print(
            f"\nbackup drill: {TOTAL} messages, dump {dump.stat().st_size} bytes in "
            f"{dump_seconds:.1f} s; {TOTAL - in_dump} acknowledged after the dump began; "
            f"restore {restore_seconds:.1f} s; replay of {len(in_dump_window)} resent "
            f"({len(in_dump_window) - (TOTAL - in_dump)} of them duplicates) {replay_seconds:.1f} s; "
            f"restore to all applied {applied_seconds:.1f} s"
        )
    finally:
        processes.stop()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
