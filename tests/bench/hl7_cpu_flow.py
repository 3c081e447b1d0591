"""One run of the batched HL7 flow in one checkout, counting CPU instead of wall time.

``tests/bench/test_hl7_processing.py``'s world and messages (1,000 of each type, batches
of 500, the worker's ``inbound_drain_keys``), run in a fresh test database of the
checkout named by ``--tree``. For each type it counts this process's CPU and, on
PostgreSQL, its server backend's (``/proc/<pid>/stat``, same machine), so a loaded
machine slows both trees alike and the figures stay comparable. Prints one JSON line:
messages per CPU-second by type.

    python tests/bench/hl7_cpu_flow.py --tree /path/to/checkout [--profile out.prof]

It imports only what the unencrypted baseline (b560b0a) already had, so one script
measures both trees; ``test_hl7_cpu_ratio.py`` runs it alternately in each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

TYPES = ("A04", "A08", "S12", "S14", "S15")


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name may hold spaces; utime and stime are fields 14 and 15.
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _run(profile: str | None) -> dict[str, object]:
    from datetime import UTC, datetime, timedelta

    from django.conf import settings
    from django.db import connection

    from integrations import inbound
    from integrations.ledger import inbound_store_batch
    from integrations.models import Connector, Message
    from tests import factories as f
    from tests.bench.test_hl7_processing import _booking, _dob
    from tests.integrations.hl7_samples import adt

    settings.INTEGRATIONS_KICK_RELAY = False
    location = f.location()
    Connector.objects.create(
        name="Bench PMS",
        kind="hl7v2_mllp",
        role="location_pms",
        location=location,
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )
    provider = f.provider(locations=[location])
    f.appointment_type(code="exam")
    f.appointment_type(code="exam2")
    start = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    slots = [
        f.slot(provider=provider, location=location, start=start + timedelta(minutes=30 * i))
        for i in range(1000)
    ]
    n = 1000
    bookings = [
        _booking(slots[i], provider, i, cid=f"S{i}", phone=f"303555{i:04d}") for i in range(n)
    ]
    batches = {
        "A04": [adt(f"A{i}", mrn=f"M{i}", last=f"Bench{i}", dob=_dob(i)) for i in range(n)],
        "A08": [
            adt(
                f"U{i}",
                event="A08",
                mrn=f"M{i}",
                last=f"Bench{i}",
                phone=f"303555{i:04d}",
                dob=_dob(i),
            )
            for i in range(n)
        ],
        "S12": bookings,
        "S14": [
            m.replace("SIU^S12^SIU_S12|S", "SIU^S14^SIU_S12|M").replace("|exam", "|exam2")
            for m in bookings
        ],
        "S15": [m.replace("SIU^S12^SIU_S12|S", "SIU^S15^SIU_S12|C") for m in bookings],
    }
    backend = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend = cursor.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")
    try:  # the audit chain's sealer; the unencrypted baseline has none
        from config.audit_seal import chain_seal as seal
    except ImportError:
        seal = None
    rates: dict[str, float] = {}
    seconds: dict[str, tuple[float, float]] = {}
    for kind, messages in batches.items():
        for chunk in range(0, n, 500):
            acks = {s.ack_code for s in inbound_store_batch(messages[chunk : chunk + 500])}
            assert acks == {"AA"}, acks
        keys = list(
            dict.fromkeys(
                Message.objects.filter(status="received").values_list("ordering_key", flat=True)
            )
        )
        # Each type pays for sealing its own audit entries, no more and no less: a
        # process seals at most once a second, so entries the previous step left
        # pending (the world's, the previous type's last batch) would otherwise be
        # sealed, and counted, here.
        if seal:
            seal(using="default")
        app, db = _cpu_ticks(os.getpid()), _cpu_ticks(backend) if backend else 0
        if profile:
            import cProfile
            import time

            # CPU time, not wall: on a loaded machine waiting says nothing about the code.
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        done = sum(inbound.inbound_drain_keys(keys[i : i + 500]) for i in range(0, len(keys), 500))
        if seal:
            seal(using="default")
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{kind}")
        app, db = _cpu_ticks(os.getpid()) - app, (_cpu_ticks(backend) - db) if backend else 0
        assert done == n, (kind, done)
        rates[kind] = round(n / ((app + db) / tick), 1)
        seconds[kind] = (app / tick, db / tick)
    left = Message.objects.exclude(status="processed").values_list("last_error", flat=True)
    assert not left.exists(), list(left[:3])
    return {"rates": rates, "cpu_seconds_app_db": seconds}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", required=True, help="the checkout to measure")
    parser.add_argument("--profile", help="write a cProfile of each type to PROFILE.<type>")
    args = parser.parse_args()
    tree = os.path.abspath(args.tree)
    # The checkout's own code, not this script's: drop the script's folder from the path.
    sys.path[:] = [tree, *(p for p in sys.path[1:] if os.path.abspath(p) != tree)]
    os.chdir(tree)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        figures = _run(args.profile)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print(json.dumps({"tree": tree, "vendor": connection.vendor, **figures}))


if __name__ == "__main__":
    main()
