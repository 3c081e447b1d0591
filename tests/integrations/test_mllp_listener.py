"""The MLLP listener, driven by python-hl7's MLLPClient (a client we did not write)."""

from __future__ import annotations

import pytest
from hl7.client import MLLPClient

from integrations import inbound
from integrations.hl7v2.ack import ack_code
from integrations.models import Connector, Message
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from tests import factories as f

from .hl7_samples import a40, adt


def _segments(ack: bytes) -> list[str]:
    return [s for s in ack.strip(b"\x0b\x1c\r").decode().split("\r") if s]


def _send_all(listener, messages: list[str]) -> list[bytes]:
    with MLLPClient(listener.host, listener.port) as client:
        return [client.send_message(m) for m in messages]


def _drain(listener) -> None:
    inbound.inbound_drain_keys(list(dict.fromkeys(listener.keys)))


def test_a_batch_over_one_connection_gets_one_correct_ack_each(listener, pms):
    acks = _send_all(
        listener,
        [
            adt("C1"),
            adt("C1"),  # duplicate: the same sender and MSH-10 again
            "this is not HL7 at all",
            adt("C3").replace("ADT^A04^ADT_A01", "ORU^R01^ORU_R01"),
            adt("C4", version="2.2"),
            adt("C5", event="A08", phone="(303)555-0199"),
        ],
    )

    codes = [ack_code(a.decode()) for a in acks]
    assert codes == ["AA", "AA", "AE", "AE", "AE", "AA"]
    assert acks[1] == acks[0], "a duplicate gets the original ACK again, byte for byte"
    assert "MSA|AA|C1" in _segments(acks[0])
    err_bad, err_type, err_version = (_segments(a)[-1] for a in acks[2:5])
    assert err_bad.startswith("ERR") and "does not start with an MSH segment" in err_bad
    assert r"unsupported message type ORU\S\R01" in err_type and "|200^" in err_type
    assert "unsupported HL7 version 2.2" in err_version and "|203^" in err_version

    rows = Message.objects.filter(direction="in")
    assert rows.count() == 5, "the duplicate is not stored twice"
    assert sorted(rows.values_list("status", flat=True)) == [
        "received",
        "received",
        "rejected",
        "rejected",
        "rejected",
    ]
    assert all(row.raw for row in rows), "rejected messages are kept in the ledger"

    _drain(listener)

    patient = PatientIdentifier.objects.get(
        system="DEN-PMS", value_bidx=identifier_index("MRN1001")
    ).patient
    assert Patient.objects.count() == 1
    assert patient.phone == "3035550199", "the A08 after the A04 updated the same patient"
    assert not Message.objects.filter(status="received").exists()


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_every_supported_version_is_accepted_and_answered_in_kind(listener, pms, version):
    (ack,) = _send_all(listener, [adt(f"V{version}", version=version)])
    msh = _segments(ack)[0].split("|")
    assert ack_code(ack.decode()) == "AA"
    assert msh[11] == version


def test_an_unknown_sender_is_refused_and_kept(listener, pms):
    (ack,) = _send_all(listener, [adt("U1", app="STRANGER")])
    assert ack_code(ack.decode()) == "AE"
    assert "unknown sending application" in ack.decode()
    assert Message.objects.get().status == "rejected"


def test_many_messages_pipelined_on_one_connection_keep_their_order(listener, pms):
    import socket

    messages = [adt(f"P{i}", mrn=f"MRN{i % 7}") for i in range(60)]
    with socket.create_connection((listener.host, listener.port)) as sock:
        sock.sendall(b"".join(b"\x0b" + m.encode() + b"\x1c\r" for m in messages))
        data = b""
        while data.count(b"\x1c\r") < len(messages):
            data += sock.recv(65536)
    acks = [a for a in data.split(b"\x1c\r") if a]
    assert [_segments(a)[1] for a in acks] == [f"MSA|AA|P{i}" for i in range(60)]
    assert Message.objects.filter(status="received").count() == 60


def test_a_merge_moves_the_record_and_a_bad_message_does_not_block_the_patient(listener, pms):
    _send_all(
        listener,
        [
            adt("M1", mrn="OLD1", last="Lopez", first="Dana", dob="19700101"),
            adt("M2", mrn="NEW1", last="Lopez", first="Dana", dob="19700101", phone=""),
            adt("M3", event="A08", mrn="NEW1", dob="19701399"),  # impossible date
            a40(
                "M4",
                survivor_mrn="NEW1",
                prior_mrn="OLD1",
                last="Lopez",
                first="Dana",
                dob="19700101",
            ),
        ],
    )
    _drain(listener)

    bad = Message.objects.get(control_id="M3")
    assert bad.status == "rejected" and "date of birth" in bad.last_error
    assert Message.objects.get(control_id="M4").status == "processed"
    survivor = PatientIdentifier.objects.get(value_bidx=identifier_index("NEW1")).patient
    assert set(survivor.identifiers.values_list("value", flat=True)) == {"NEW1", "OLD1"}
    assert Patient.objects.filter(status="merged", merged_into=survivor).count() == 1


def test_a_brand_new_connector_is_accepted_at_once_not_after_the_cache_expires(
    db, django_capture_on_commit_callbacks
):
    """The listener's connector cache is invalidated when a Connector is saved."""
    from integrations.ledger import ConnectorDirectory

    first = ConnectorDirectory()
    first.miss_reload_seconds = 3600.0  # only the save's invalidation can make it reload
    assert first.lookup("NEWPMS|NEW") is None  # loads (and caches) the table
    with django_capture_on_commit_callbacks(execute=True):
        Connector.objects.create(
            name="New PMS",
            kind=Connector.Kind.HL7V2_MLLP,
            role=Connector.Role.LOCATION_PMS,
            location=f.location(),
            sending_application="NEWPMS",
            sending_facility="NEW",
            identifier_system="NEW-PMS",
        )
    assert first.lookup("NEWPMS|NEW") is not None, "a save in this process invalidates"


def test_the_running_listener_accepts_a_new_connector_s_first_message(listener):
    with MLLPClient(listener.host, listener.port) as client:
        before = client.send_message(adt("NEW0", app="NEWPMS", facility="NEW"))
        assert ack_code(before.decode()) == "AE"  # unknown sender; the directory is cached
        Connector.objects.create(
            name="New PMS",
            kind=Connector.Kind.HL7V2_MLLP,
            location=f.location(),
            sending_application="NEWPMS",
            sending_facility="NEW",
            identifier_system="NEW-PMS",
        )
        after = client.send_message(adt("NEW1", app="NEWPMS", facility="NEW"))
    assert ack_code(after.decode()) == "AA"


def test_a_connector_saved_by_another_process_is_found_on_the_first_miss(db):
    from integrations import ledger

    directory = ledger.ConnectorDirectory()
    directory.miss_reload_seconds = 0.0
    assert directory.lookup("OTHER|X") is None
    # Another process saved it: no signal here, only the row.
    Connector.objects.bulk_create(
        [
            Connector(
                name="Other", kind="hl7v2_mllp", sending_application="OTHER", sending_facility="X"
            )
        ]
    )  # bulk_create sends no post_save
    assert directory.lookup("OTHER|X") is not None
