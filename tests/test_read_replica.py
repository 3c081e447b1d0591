"""KPI pages read from a real PostgreSQL streaming replica; bookings never do.

The test starts its own primary (wal_level=replica) and a standby made from it with
pg_basebackup -R, loads the test database's schema into the primary, and runs a hub
process against the pair (DATABASE_URL and DATABASE_REPLICA_URL) that books an
appointment, opens the KPI overview and a drill-down CSV, and reports which database
each query went to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from config.db_router import REPLICA, ReplicaRouter, replica_alias, replica_reads
from scheduling.models import Appointment
from tests import pg_cluster
from tests.processes import ROOT

APPOINTMENTS = '"scheduling_appointment"'


def _copy_schema(source: str, target: str) -> None:
    """The migrated test database, as it is now, into the throwaway primary."""
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", source],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", target],
        input=dump.stdout,
        check=True,
        capture_output=True,
    )


# Skipped at collection elsewhere, so SQLite never flushes a database this never used.
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: the replica is a PostgreSQL streaming standby",
)
@pytest.mark.django_db(transaction=True)
def test_kpi_reads_go_to_the_streaming_replica_and_bookings_to_the_primary():
    why = pg_cluster.missing()
    if why:
        pytest.skip(why)
    db = connection.settings_dict
    source = (
        f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    with pg_cluster.streaming_pair() as pair:
        admin = pair.url(pair.primary_port, "postgres")
        subprocess.run(["psql", "-q", admin, "-c", "CREATE DATABASE hub"], check=True)
        _copy_schema(source, pair.url(pair.primary_port, "hub"))
        env = {
            **os.environ,
            "DATABASE_URL": pair.url(pair.primary_port, "hub"),
            "DATABASE_REPLICA_URL": pair.url(pair.standby_port, "hub"),
            "HUB_VAR_DIR": str(settings.VAR_DIR),
            "LOG_LEVEL": "WARNING",
            "ALLOWED_HOSTS": "testserver",  # django.test.Client's host
        }
        probe = subprocess.run(
            [sys.executable, "-m", "tests.replica_probe"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    assert probe.returncode == 0, probe.stderr[-3000:]
    seen = json.loads(probe.stdout.strip().splitlines()[-1])

    assert seen["standby"] is True  # the replica really is a standby in recovery
    assert seen["booking"]["replica"] == []
    assert any("INSERT INTO" in q and "appointment" in q for q in seen["booking"]["primary"])

    for page in ("kpi", "drill"):
        assert seen[page]["result"] == 200
        on_replica = seen[page]["replica"]
        assert any(APPOINTMENTS in q for q in on_replica), on_replica
        # The primary still serves the session, the login and the filter form's choices
        # (appointment types, regions), and takes the access audit; no report query
        # over the appointments runs there.
        on_primary = [q for q in seen[page]["primary"] if APPOINTMENTS in q]
        assert on_primary == [], (page, on_primary)


def test_without_a_replica_heavy_reads_stay_on_the_primary():
    assert replica_alias() == "default"
    with replica_reads() as alias:
        assert alias == "default"
        assert ReplicaRouter().db_for_read(Appointment) == "default"
    assert REPLICA not in settings.DATABASES
