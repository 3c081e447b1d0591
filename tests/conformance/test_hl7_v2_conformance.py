"""HL7 v2 over MLLP, clause by clause: what real feeds send and what the standard makes
the hub answer. Each test names the clause it follows (HL7 v2.5.1 unless it says so).

Everything goes through a live listener on a real socket, a real database, and the
worker's own drain; the ACKs are read with python-hl7, a parser we did not write.
"""

from __future__ import annotations

import socket

import hl7
import pytest
from django.core.management import call_command

from integrations import inbound
from integrations.hl7v2.ack import ack_code
from integrations.hl7v2.reader import SUPPORTED_VERSIONS
from integrations.models import Connector, Message
from patients.models import Patient, PatientIdentifier
from patients.mpi.upsert import identifier_index
from tests import factories as f

from .hl7_feeds import CERNER, EPIC, MEDITECH, a04, cerner_a04, epic_a08, meditech_a04

pytestmark = pytest.mark.django_db(transaction=True)


def _connector(sender: tuple[str, str, str], **kw) -> Connector:
    app, facility, authority = sender
    return Connector.objects.create(
        name=f"{app} {facility}",
        kind=Connector.Kind.HL7V2_MLLP,
        role=Connector.Role.LOCATION_PMS,
        location=f.location(),
        sending_application=app,
        sending_facility=facility,
        identifier_system=authority,
        **kw,
    )


@pytest.fixture
def feeds(transactional_db) -> dict[str, Connector]:
    return {
        "cerner": _connector(CERNER),
        "epic": _connector(EPIC),
        "meditech": _connector(MEDITECH),
    }


def exchange(listener, frames: list[bytes | str]) -> list[str]:
    """Pipeline every frame on one connection (send all, then read), as busy senders do;
    return each answer's text, in order."""
    data = b"".join(
        (b"\x0b" + (fr.encode("utf-8") if isinstance(fr, str) else fr) + b"\x1c\r") for fr in frames
    )
    answers = b""
    with socket.create_connection((listener.host, listener.port), timeout=20) as sock:
        sock.sendall(data)
        while answers.count(b"\x1c\r") < len(frames):
            chunk = sock.recv(65536)
            assert chunk, "the listener closed the connection before answering every frame"
            answers += chunk
    return [a.lstrip(b"\x0b").decode("utf-8") for a in answers.split(b"\x1c\r") if a.strip()]


def msa(ack: str) -> list[str]:
    return str(hl7.parse(ack).segment("MSA")).split("|")


def err(ack: str) -> str:
    return str(hl7.parse(ack).segment("ERR"))


def drain(listener) -> None:
    """What the workers (and the sweeper behind them) do with what the listener stored."""
    inbound.inbound_drain_keys(inbound.inbound_due_keys())


# -- 1. a frame that can never be stored (MLLP, appendix C; §2.7 character set) ---------


def test_a_nul_frame_between_two_valid_messages_gets_ae_is_kept_and_spares_its_neighbours(
    listener, feeds
):
    """§2.9: AE when the message itself is wrong; AR only when the receiver cannot take
    it now. The three frames arrive in one burst, so they share one group commit."""
    poisoned = a04("NUL1", mrn="R200").replace("Rivera", "Riv\x00era")
    answers = exchange(listener, [a04("OK1", mrn="R100"), poisoned, a04("OK2", mrn="R300")])

    assert [ack_code(a) for a in answers] == ["AA", "AE", "AA"]
    assert msa(answers[1])[2] == "NUL1", "the poison frame's own MSH-10 is echoed"
    assert "NUL byte" in err(answers[1]) and "|102^" in err(answers[1])
    kept = Message.objects.get(control_id="NUL1")
    assert kept.status == "rejected"
    assert "Riv\\X00\\era" in kept.raw, "kept for inspection, the NUL as an HL7 hex escape"

    drain(listener)
    values = set(PatientIdentifier.objects.values_list("value", flat=True))
    assert values == {"R100", "R300"}, "both valid messages applied, the poison one never"


def test_a_frame_the_database_refuses_is_answered_ae_alone_and_kept_escaped(
    listener, feeds, monkeypatch
):
    """The last line of defence: were a character the database cannot hold to get past
    the escaping, the group commit falls back to one frame at a time, and only that frame
    is refused (with AE, never AR) while the others commit."""
    from django.db import connection

    from integrations import ledger

    if connection.vendor != "postgresql":
        pytest.skip("SQLite stores NUL; only PostgreSQL refuses it")
    monkeypatch.setattr(ledger, "_prepare", _prepare_without_nul_check(ledger._prepare))
    poisoned = a04("DB2", mrn="R200").replace("Rivera", "Riv\x00era")
    answers = exchange(listener, [a04("DB1", mrn="R100"), poisoned, a04("DB3", mrn="R300")])

    assert [ack_code(a) for a in answers] == ["AA", "AE", "AA"]
    kept = Message.objects.get(sha256=Message.hash_raw(poisoned))
    assert kept.status == "rejected" and "\\x00" in kept.raw
    assert set(Message.objects.filter(status="received").values_list("control_id", flat=True)) == {
        "DB1",
        "DB3",
    }


def _prepare_without_nul_check(prepare):
    def prepare_as_if_unchecked(frame, directory, now):
        if "\x00" not in frame.raw:
            return prepare(frame, directory, now)
        swapped = type(frame)(frame.raw.replace("\x00", "\x01"), frame.peer, frame.decode_error)
        prepared = prepare(swapped, directory, now)
        prepared.frame = frame
        if prepared.row is not None:
            # The payload column is ciphertext, which never holds a NUL, so the NUL goes
            # into a clear column (the control id) for PostgreSQL to refuse.
            prepared.row.control_id += "\x00"
            prepared.row.sha256 = Message.hash_raw(frame.raw)
        return prepared

    return prepare_as_if_unchecked


# -- 2. versions (MSH-12, table 0104) --------------------------------------------------


@pytest.mark.parametrize("version", sorted(SUPPORTED_VERSIONS))
def test_every_version_from_2_3_to_2_8_is_accepted_applied_and_answered_in_kind(
    listener, feeds, version
):
    """§2.9: the receiver answers in the version of the message it acknowledges."""
    (answer,) = exchange(listener, [a04(f"V{version}", version=version, mrn=f"V{version}")])
    assert ack_code(answer) == "AA"
    assert str(hl7.parse(answer).segment("MSH")[12]) == version
    drain(listener)
    assert PatientIdentifier.objects.filter(value_bidx=identifier_index(f"V{version}")).exists()


@pytest.mark.parametrize("version", ["2.9", "2.2", "2.1", "3.0", "2.5.1x"])
def test_a_version_outside_the_range_is_refused_with_error_203_and_the_range(
    listener, feeds, version
):
    """Table 0357 code 203, unsupported version id, located at MSH-12."""
    (answer,) = exchange(listener, [a04("OLD", version=version)])
    assert ack_code(answer) == "AE"
    assert msa(answer)[2] == "OLD"
    assert "|203^" in err(answer) and "MSH^1^12" in err(answer)
    assert f"unsupported HL7 version {version}; accepted: 2.3 to 2.8.2" in err(answer)


def test_a_v2_7_phone_in_pid_40_is_read(listener, feeds):
    """v2.7 ch. 3 §3.4.2.40: PID-40 carries the telecoms; PID-13 is kept only for
    backward compatibility and may be empty."""
    exchange(listener, [a04("T40", version="2.7", phone_field=40, mrn="P40")])
    drain(listener)
    assert (
        PatientIdentifier.objects.get(value_bidx=identifier_index("P40")).patient.phone
        == "3035550214"
    )


# -- what real feeds send --------------------------------------------------------------


def test_real_feed_shapes_are_accepted_and_applied(listener, feeds):
    """Cerner-like v2.3 in Latin-1 with trailing separators and a Z-segment, Epic-like
    v2.5.1 with repetitions and escape sequences, Meditech-like v2.4 with LF line ends
    (ch. 2 message construction, §2.7 escape sequences; Z-segments are the sender's
    own local segments, which a receiver that does not know them skips)."""
    answers = exchange(
        listener,
        [
            cerner_a04("Q1000000001T1").encode("latin-1"),
            epic_a08("1817457"),
            meditech_a04("MT-000123"),
        ],
    )
    assert [ack_code(a) for a in answers] == ["AA", "AA", "AA"]
    drain(listener)
    assert not Message.objects.exclude(status="processed").exists()
    cerner = PatientIdentifier.objects.get(
        system="TEC MRN", value_bidx=identifier_index("700123")
    ).patient
    assert (cerner.last_name, cerner.first_name) == ("Muñoz", "José")
    epic = PatientIdentifier.objects.get(
        system="EPI", value_bidx=identifier_index("E5550001")
    ).patient
    assert epic.last_name == "O^Neil", r"\S\ is the component separator, unescaped"
    assert epic.email == "mary@example.org"
    meditech = PatientIdentifier.objects.get(system="MTMRN").patient
    assert meditech.phone == "3035550177"


def test_a_byte_order_mark_before_msh_is_tolerated(listener, feeds):
    (answer,) = exchange(listener, [b"\xef\xbb\xbf" + a04("BOM1").encode()])
    assert ack_code(answer) == "AA"
    assert Message.objects.get(control_id="BOM1").raw.startswith("MSH|")


def test_bytes_that_are_not_the_charset_msh_18_declares_get_ae_with_the_reason(listener, feeds):
    """MSH-18 character set (table 0211): a frame declaring UNICODE UTF-8 must be UTF-8."""
    raw = a04("CS1").replace("|P|2.5.1\r", "|P|2.5.1||||||UNICODE UTF-8\r").replace("Alex", "Zoë")
    (answer,) = exchange(listener, [raw.encode("latin-1")])
    assert ack_code(answer) == "AE"
    assert "not valid UNICODE UTF-8 as MSH-18 declares" in err(answer)
    assert msa(answer)[2] == "CS1"
    assert Message.objects.get(control_id="CS1").status == "rejected"


# -- 3. batches (§2.10.3) --------------------------------------------------------------


def _batch(ids: list[str], *, declared: int | None = None) -> str:
    count = len(ids) if declared is None else declared
    lines = [
        "FHS|^~\\&|EPIC|EPICADT|CAREHUB|HUB|20261122093000||backfill.hl7||F-77",
        "BHS|^~\\&|EPIC|EPICADT|CAREHUB|HUB|20261122093000||||B-77",
    ]
    lines += [a04(i, mrn=f"B{i}").rstrip("\r") for i in ids]
    lines += [f"BTS|{count}", "FTS|1"]
    return "\r".join(lines) + "\r"


def test_a_batch_in_one_frame_gets_a_batch_of_acks_echoing_its_ids(listener, feeds):
    """§2.10.3: the acknowledgment batch carries one ACK per message, in order; BHS-12
    and FHS-12 (reference control ids) echo the sender's BHS-11 and FHS-11."""
    (answer,) = exchange(listener, [_batch(["BA1", "BA2", "BA3"])])

    parsed = hl7.parse_file(answer)  # python-hl7 reads FHS/BHS/BTS/FTS
    assert str(parsed.header[12]) == "F-77"
    (batch,) = parsed
    assert str(batch.header[12]) == "B-77"
    assert [str(m.segment("MSA")[2]) for m in batch] == ["BA1", "BA2", "BA3"]
    assert [str(m.segment("MSA")[1]) for m in batch] == ["AA", "AA", "AA"]
    assert str(batch.trailer[1]) == "3"
    drain(listener)
    assert (
        sum(v.startswith("BBA") for v in PatientIdentifier.objects.values_list("value", flat=True))
        == 3
    )


def test_a_batch_whose_count_disagrees_says_so_and_answers_what_arrived(listener, feeds):
    (answer,) = exchange(listener, [_batch(["BC1", "BC2"], declared=3)])
    (batch,) = hl7.parse_file(answer)
    assert str(batch.trailer[1]) == "2"
    assert "BTS-1 declared 3 messages, 2 received" in str(batch.trailer[2])


def test_a_batch_file_imports_like_mllp_and_a_second_import_changes_nothing(feeds, tmp_path):
    """A file drop of a batch: ``manage.py hl7_import FILE`` stores, answers (the ACK
    batch file) and applies each message exactly as the listener would."""
    path, acks = tmp_path / "backfill.hl7", tmp_path / "backfill.ack"
    path.write_text(_batch(["BF1", "BF2"]).replace("\r", "\r\n"), encoding="utf-8")

    call_command("hl7_import", str(path), "--ack-file", str(acks), "--process-now")
    call_command("hl7_import", str(path), "--process-now")

    (batch,) = hl7.parse_file(acks.read_bytes().decode())
    assert [str(m.segment("MSA")[1]) for m in batch] == ["AA", "AA"]
    assert Message.objects.filter(direction="in").count() == 2, "the re-import is duplicates"
    assert (
        PatientIdentifier.objects.filter(
            value_bidx__in=[identifier_index("BBF1"), identifier_index("BBF2")]
        ).count()
        == 2
    )


# -- 4. processing id (MSH-11, table 0103) ----------------------------------------------


@pytest.mark.parametrize("processing_id", ["T", "D"])
def test_a_production_connector_refuses_training_and_debugging_messages(
    listener, feeds, processing_id
):
    """Table 0357 code 202, unsupported processing id: answered, kept, never applied."""
    (answer,) = exchange(listener, [a04("PT1", processing_id=processing_id, mrn="TRAIN1")])
    assert ack_code(answer) == "AE"
    assert "|202^" in err(answer) and f"processing id {processing_id} refused" in err(answer)
    assert str(hl7.parse(answer).segment("MSH")[11]) == processing_id, "answered in kind"
    drain(listener)
    assert not Patient.objects.exists()


def test_a_training_connector_applies_training_messages(listener, transactional_db):
    _connector(EPIC, processing_id="T")
    answers = exchange(listener, [a04("TR1", processing_id="T", mrn="TR1"), a04("TR2")])
    assert [ack_code(a) for a in answers] == ["AA", "AE"]
    drain(listener)
    assert list(PatientIdentifier.objects.values_list("value", flat=True)) == ["TR1"]


# -- 5. ACK correlation (§2.9, MSA-2) --------------------------------------------------


def test_msa_2_echoes_msh_10_byte_for_byte(listener, feeds):
    (answer,) = exchange(listener, [a04(" 00042")])
    assert msa(answer)[2] == " 00042"
    assert Message.objects.get().control_id == " 00042"


def test_msa_2_is_the_real_msh_10_when_another_header_field_is_wrong(listener, feeds):
    no_version = a04("HDR1").replace("|P|2.5.1\r", "|P|\r")
    short_msh = "MSH|^~\\&|EPIC|EPICADT|CAREHUB|HUB|20261122||ADT^A04|HDR2\rPID|1\r"
    answers = exchange(listener, [no_version, short_msh])
    assert [msa(a)[2] for a in answers] == ["HDR1", "HDR2"]
    assert [ack_code(a) for a in answers] == ["AE", "AE"]


def test_a_corrected_message_under_the_same_id_is_processed_and_a_true_duplicate_is_not(
    listener, feeds
):
    """MSH-10 identifies one message (§2.9): the same content resent (a new MSH-7 is a
    resend, not a change) gets the first answer again and has no second effect; changed
    content after an AE is the sender's correction and is processed; changed content
    after an AA reuses the id and is refused (table 0357 code 205)."""
    bad = a04("C77").replace("EVN|A04|20261122093000\r", "")  # EVN missing: refused now
    fixed = a04("C77", mrn="FIX1")
    first, resent = exchange(listener, [bad, bad.replace("20261122093000", "20261122094500")])
    corrected, again, reused = exchange(
        listener, [fixed, fixed, a04("C77", mrn="OTHER", last="Someone")]
    )

    assert (ack_code(first), ack_code(corrected), ack_code(reused)) == ("AE", "AA", "AE")
    assert resent == first, "a duplicate of the refused message gets its AE again"
    assert again == corrected, "a duplicate of the correction gets its AA again"
    assert "already accepted for a different message" in err(reused) and "|205^" in err(reused)
    rows = Message.objects.filter(control_id="C77").order_by("id")
    assert [(r.status, r.ack_code) for r in rows] == [
        ("rejected", "AE"),
        ("received", "AA"),
        ("rejected", "AE"),
    ]
    drain(listener)
    assert list(PatientIdentifier.objects.values_list("value", flat=True)) == ["FIX1"]


# -- 6. merges (ch. 3 §3.3.34-§3.3.40, MRG §3.4.9) --------------------------------------


# People far apart (name, birth date, phone), so the MPI's demographic matching keeps
# them apart until the merge says they are one.
FIRST = {"NEW1": "Dana", "OLD1": "Bartholomew", "S1": "Maximilian", "P1": "Yu", "S2": "Olga"}
FIRST["P2"] = "Kwame"


def _merge(control_id: str, event: str, pairs: list[tuple[str, str]], *, version: str) -> str:
    """``pairs`` of (surviving MRN, MRG segment after the PID)."""
    structure = {"A34": "ADT_A30", "A36": "ADT_A30", "A39": "ADT_A39", "A40": "ADT_A39"}[event]
    msg_type = f"ADT^{event}" if version == "2.3" else f"ADT^{event}^{structure}"
    lines = [
        f"MSH|^~\\&|EPIC|EPICADT|CAREHUB|HUB|20261122093000||{msg_type}|{control_id}|P|{version}",
        f"EVN|{event}|20261122093000",
    ]
    for survivor, mrg in pairs:
        lines += [f"PID|1||{survivor}^^^EPI^MR||Lopez^{FIRST[survivor]}||19700101|F", mrg]
    return "\r".join(lines) + "\r"


def _register(listener, *mrns: str) -> None:
    exchange(
        listener,
        [
            a04(f"REG-{m}", mrn=m, last=f"Lopez{i}", first=FIRST[m], dob=f"19{50 + i}0{i + 1}1{i}")
            for i, m in enumerate(mrns)
        ],
    )
    drain(listener)
    assert Patient.objects.count() == len(mrns), "registered as separate people"


@pytest.mark.parametrize(
    ("event", "version", "mrg"),
    [
        ("A40", "2.5.1", "MRG|OLD1^^^EPI^MR"),
        ("A34", "2.3", "MRG|OLD1^^^EPI^MR"),  # merge patient information, patient id only
        ("A39", "2.3", "MRG||||OLD1^^^EPI"),  # v2.3 merge person: the prior id in MRG-4
        ("A36", "2.4", "MRG|OLD1^^^EPI^MR||ACC9"),  # patient id and account number
    ],
)
def test_merge_variants_real_systems_send_are_understood(listener, feeds, event, version, mrg):
    _register(listener, "NEW1", "OLD1")
    (answer,) = exchange(listener, [_merge(f"MG-{event}", event, [("NEW1", mrg)], version=version)])
    assert ack_code(answer) == "AA"
    drain(listener)
    assert Message.objects.get(control_id=f"MG-{event}").status == "processed"
    survivor = PatientIdentifier.objects.get(value_bidx=identifier_index("NEW1")).patient
    assert set(survivor.identifiers.values_list("value", flat=True)) == {"NEW1", "OLD1"}


def test_an_a40_with_two_patient_groups_merges_both(listener, feeds):
    _register(listener, "S1", "P1", "S2", "P2")
    pairs = [("S1", "MRG|P1^^^EPI^MR"), ("S2", "MRG|P2^^^EPI^MR")]
    exchange(listener, [_merge("MG-2", "A40", pairs, version="2.5.1")])
    drain(listener)
    assert Patient.objects.filter(status="merged").count() == 2
    for survivor, prior in (("S1", "P1"), ("S2", "P2")):
        patient = PatientIdentifier.objects.get(value_bidx=identifier_index(survivor)).patient
        assert set(patient.identifiers.values_list("value", flat=True)) == {survivor, prior}


def test_a_merge_without_a_prior_identifier_is_refused_naming_the_field(listener, feeds):
    (answer,) = exchange(listener, [_merge("MG-X", "A40", [("S1", "MRG|||ACC1")], version="2.5.1")])
    assert ack_code(answer) == "AE"
    assert "MRG-1 prior patient identifier list is empty" in err(answer)
    assert "MRG^1^1" in err(answer) and "|101^" in err(answer)


@pytest.mark.parametrize("event", ["A35", "A41", "A42"])
def test_account_and_visit_merges_are_refused_with_what_they_would_need(listener, feeds, event):
    raw = _merge(f"MG-{event}", "A40", [("S1", "MRG|||ACC1")], version="2.5.1")
    (answer,) = exchange(listener, [raw.replace("ADT^A40^ADT_A39", f"ADT^{event}")])
    assert ack_code(answer) == "AE"
    assert "|201^" in err(answer) and "send A40" in err(answer)
