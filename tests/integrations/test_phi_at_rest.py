"""A database dump of a hub that has seen real traffic shows no PHI in clear.

The demo network is seeded (X12 270/271, 837P and 835 pass through the sandbox payer
while it seeds), HL7 v2 ADT arrives over MLLP, a FHIR Patient and Appointment are
polled from a live FHIR server, and everything is processed. Then the whole database is
read the way an attacker with a backup would: ``pg_dump`` on PostgreSQL, the raw file
bytes on the embedded SQLite. None of 200 plaintext values sampled from what the hub
holds (names, birth dates in three spellings, phones, MRNs, member ids, street
addresses) may appear, nor a raw ``PID|`` segment.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from hl7.client import MLLPClient

from config.crypto import blind_index
from integrations import inbound
from integrations.fhir.client import fhir_poll
from integrations.models import Connector, Message, SandboxAppointment
from patients.models import Coverage, Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from scheduling.models import Appointment, Location, Provider

from .hl7_samples import adt
from .test_fhir_client import FakeEhr, _meta

pytestmark = pytest.mark.django_db(transaction=True)

SAMPLE_SIZE = 200
# Quotas per kind; DOBs count three times (YYYYMMDD, YYYY-MM-DD, MM/DD/YYYY).
QUOTAS = {"last": 30, "first": 15, "dob": 20, "phone": 25, "mrn": 25, "member": 20, "street": 25}


def _send_hl7(listener, location: Location) -> None:
    Connector.objects.create(
        name="Dump test PMS",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=location,
        sending_application="DENPMS",
        sending_facility="DEN",
        identifier_system="DEN-PMS",
    )
    people = [
        adt(
            f"PHI{i}",
            mrn=f"ZQ{i:06d}",
            last=f"Wexlerington{chr(65 + i)}",
            first=f"Philippa{chr(65 + i)}",
            dob=f"19{50 + i}0{1 + i % 9}1{i % 9}",
            phone=f"(719) 555-{4100 + i}",
        )
        for i in range(12)
    ]
    with MLLPClient(listener.host, listener.port) as client:
        for message in people:
            client.send_message(message)
    inbound.inbound_drain_keys(list(dict.fromkeys(listener.keys)))


def _poll_fhir(location: Location) -> None:
    ehr = FakeEhr()
    try:
        ehr.put(
            {
                "resourceType": "Patient",
                "id": "FHIRMRN9917",
                "meta": _meta(1),
                "name": [{"family": "Ravenscroftova", "given": ["Henrietta"]}],
                "gender": "female",
                "birthDate": "1961-07-23",
                "telecom": [{"system": "phone", "value": "(970) 555-0187"}],
                "address": [{"line": ["4471 Quillfeather Lane"], "postalCode": "80202"}],
            }
        )
        connector = Connector.objects.create(
            name="Dump test EHR",
            kind=Connector.Kind.FHIR_R4,
            role=Connector.Role.LOCATION_EHR,
            location=location,
            endpoint=ehr.base,
            identifier_system="DUMP-EHR",
        )
        assert sum(fhir_poll(connector).values()) >= 1
        inbound.inbound_drain_keys(inbound.inbound_due_keys())
    finally:
        ehr.server.shutdown()


def _not_phi() -> set[str]:
    """Clear text the hub may hold beside PHI: staff and locations, never patients."""
    words: set[str] = set()
    for first, last in Provider.objects.values_list("first_name", "last_name"):
        words |= {first, last}
    for row in Location.objects.values_list("name", "address_line", "phone", "city"):
        words |= set(row)
    # Ids other systems give appointments and messages ("E1234" for the sandbox EHR's
    # visit 1234) can spell the same as a patient's MRN there ("E1234", patient 1234).
    words |= set(Appointment.objects.values_list("external_id", flat=True))
    words |= set(SandboxAppointment.objects.values_list("external_id", flat=True))
    words |= set(Message.objects.values_list("control_id", flat=True))
    return words


# The sandbox payers' codes ("SBXDD1") are "SBX" and the three characters their member
# ids start with ("DD1000000074"), and they number their traces, 999s and claims as the
# code plus nine digits: "SBXDD1000000074" is payer SBXDD1's number 74, which spells
# member DD1000000074 without being it. Such numbers turn up in live rows and in rows
# the seed wrote and replaced (SQLite keeps those bytes in its free pages).
PAYER_NUMBER_PREFIX = b"SBX"


def _readable(value: str, dump: bytes) -> bool:
    """Whether ``value`` is in the dump other than inside a sandbox payer's number."""
    raw = value.encode()
    return dump.count(raw) > dump.count(PAYER_NUMBER_PREFIX + raw)


def _sample() -> list[str]:
    rng = random.Random(12)
    pools: dict[str, list[str]] = {kind: [] for kind in QUOTAS}
    for first, last, dob, phone, street in Patient.objects.values_list(
        "first_name", "last_name", "date_of_birth", "phone", "address_line"
    ):
        # Short strings turn up by chance inside base64 ciphertext (a 4-letter name
        # once per 16 MB): only values long enough that a hit means a leak are sampled.
        if len(last) >= 6:
            pools["last"].append(last)
        if len(first) >= 6:
            pools["first"].append(first)
        if dob.year < date.today().year - 2:  # older than any operational date
            pools["dob"].append(dob.isoformat())
        if phone:
            pools["phone"].append(phone)
        if street:
            pools["street"].append(street)
    pools["mrn"] = list(PatientIdentifier.objects.values_list("value", flat=True))
    pools["member"] = list(Coverage.objects.values_list("member_id", flat=True))
    excluded = _not_phi()
    chosen: list[str] = []
    for kind, quota in QUOTAS.items():
        pool = sorted({v for v in pools[kind] if v not in excluded and len(v) >= 6})
        assert len(pool) >= quota, f"the seeded network has too few {kind} values to sample"
        for value in rng.sample(pool, quota):
            if kind == "dob":
                day = date.fromisoformat(value)
                chosen += [f"{day:%Y%m%d}", value, f"{day:%m/%d/%Y}"]
            else:
                chosen.append(value)
    return chosen[:SAMPLE_SIZE]


def _dump_bytes(tmp_path: Path) -> bytes:
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        result = subprocess.run(
            [
                "pg_dump",
                "--host",
                settings["HOST"] or "127.0.0.1",
                "--port",
                str(settings["PORT"] or 5432),
                "--username",
                settings["USER"] or "postgres",
                settings["NAME"],
            ],
            capture_output=True,
            check=True,
            env={"PGPASSWORD": settings["PASSWORD"] or "", "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        return result.stdout
    path = Path(settings["NAME"])
    connection.close()
    db = sqlite3.connect(path)
    try:
        # The WAL is folded in and emptied, so the file is everything SQLite keeps on
        # disk. Its pages, free ones included, are read through SQLite rather than by
        # opening the file: closing another descriptor of the file would drop the POSIX
        # locks every connection of this process holds on it.
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return db.serialize()
    finally:
        db.close()


def _forget_earlier_tests() -> None:
    """Rows that earlier tests wrote and the flush between tests deleted stay in
    SQLite's free pages, where the raw bytes read below would find them. They are not
    this hub's: one test's 271 ledger row, the sandbox payer's "SBXDD1000000081", once
    spelled a member id sampled here. VACUUM rewrites the file without them; what this
    test itself writes and deletes stays in the free pages it leaves."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM")


def test_a_dump_of_a_busy_hub_holds_no_sampled_phi_in_clear(listener, tmp_path):
    _forget_earlier_tests()
    call_command(
        "seed_demo",
        *("--locations", "3", "--providers", "6", "--patients", "150", "--days", "3"),
        *("--history-months", "1", "--seed", "11"),
    )
    location = Location.objects.order_by("pk").first()
    _send_hl7(listener, location)
    _poll_fhir(location)
    protocols = set(Message.objects.values_list("protocol", flat=True))
    assert {"hl7v2", "fhir", "x12"} <= protocols, protocols
    # What came in over HL7 and FHIR is in the hub, readable through the ORM.
    assert PatientIdentifier.objects.get(value_bidx=identifier_index("ZQ000003")).patient.phone
    assert Patient.objects.get(last_name_bidx=blind_index("name.last", "ravenscroftova"))
    sample = _sample()
    assert len(sample) == SAMPLE_SIZE
    sample += ["Ravenscroftova", "Henrietta", "19610723", "1961-07-23", "9705550187"]
    sample += ["4471 Quillfeather Lane", "FHIRMRN9917", "ZQ000003", "7195554103"]

    provider_name = Provider.objects.order_by("pk").values_list("last_name", flat=True)[0]
    dump = _dump_bytes(tmp_path)

    assert len(dump) > 100_000, "the dump holds the seeded network"
    # Control: clear text that is not PHI (a provider's name) is found where it is.
    assert provider_name.encode() in dump
    found = [value for value in sample if _readable(value, dump)]
    # Synthetic demo people: naming them makes a failure actionable.
    assert not found, f"{len(found)} plaintext PHI value(s) readable in the dump: {found}"
    assert b"PID|" not in dump, "a raw HL7 PID segment is readable in the dump"
