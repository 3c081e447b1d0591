"""Run as its own process against a primary (DATABASE_URL) and its streaming replica
(DATABASE_REPLICA_URL): book an appointment, open a KPI page, and print as JSON which
database each one's queries went to. Used by tests/test_read_replica.py."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connections  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from config.celery import app  # noqa: E402
from config.roles import AGENT, OPS_MANAGER, roles_sync  # noqa: E402
from scheduling import services  # noqa: E402
from tests import factories as f  # noqa: E402
from tests.mfa import VerifiedClient  # noqa: E402


def _user(name: str, role: str) -> User:
    user = User.objects.create_user(username=name, password="pw-for-tests-only")
    user.groups.add(Group.objects.get(name=role))
    return user


def _captured(block) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica"]) as replica,
    ):
        result = block()
    return {
        "result": result,
        "primary": [q["sql"][:120] for q in primary.captured_queries],
        "replica": [q["sql"][:120] for q in replica.captured_queries],
    }


def _caught_up() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        (lsn,) = cursor.fetchone()
    deadline = time.monotonic() + 30
    with connections["replica"].cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn])
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise SystemExit("the replica did not catch up")


def main() -> None:
    app.conf.broker_url = "memory://"  # tasks queued on commit go nowhere in this probe
    roles_sync()
    agent, ops = _user("agent.replica", AGENT), _user("ops.replica", OPS_MANAGER)
    location = f.location()
    provider = f.provider(locations=[location])
    start = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=16, minute=0, second=0)
    slot = f.slot(provider=provider, location=location, start=start.replace(microsecond=0))
    kind, patient = f.appointment_type(), f.patient()

    def book() -> int:
        hold = services.hold_place(slot=slot, by=agent)
        return services.appointment_book(
            hold=hold, patient=patient, appointment_type=kind, by=agent, reason="new_problem"
        ).pk

    booking = _captured(book)
    _caught_up()
    client = VerifiedClient()
    client.force_login(ops)
    kpi = _captured(lambda: client.get("/kpi/").status_code)
    drill = _captured(lambda: client.get("/kpi/drill/bookings/?format=csv").status_code)
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        (in_recovery,) = cursor.fetchone()
    print(json.dumps({"booking": booking, "kpi": kpi, "drill": drill, "standby": in_recovery}))


if __name__ == "__main__":
    main()
