"""The product's logs, written as JSON lines at DEBUG through a full traffic pass, hold
no PHI: a seeded demo network, HL7 over MLLP (a bad message included), FHIR, X12 through
the sandbox payer, the console, and 4xx answers. The log file is then searched for every
seeded patient's name, birth date (several spellings), phone, MRN, member id and address.
"""

from __future__ import annotations

import json
import logging.config
import re
import socket
from datetime import date

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from billing.models import EligibilityCheck
from config.logs import logging_config
from integrations.models import ApiToken, Connector, Message
from integrations.tasks import fhir_poll_task, inbound_drain_task, sandbox_tick_task
from integrations.x12.tasks import eligibility_batch_task, eligibility_check_send_task
from patients.models import Coverage, Patient, PatientIdentifier
from scheduling.models import Appointment, AppointmentType
from tests.mfa import VerifiedClient

from .hl7_samples import adt

PRODUCT_LOGGERS = ["config", "patients", "scheduling", "billing", "integrations"]
HX = {"HX-Request": "true"}
# The inbound patient arrives only over MLLP, so none of this is in the seed.
INBOUND = {
    "mrn": "OBSMRN7781",
    "last": "Quintanilla",
    "first": "Marisol",
    "dob": "19770423",
    "phone": "(720)555-0199",
}


@pytest.fixture
def json_log(tmp_path):
    """The product's loggers at DEBUG into a file, through the JSON formatter that
    production uses."""
    path = tmp_path / "hub.log"
    config = logging_config(json_lines=True, level="WARNING")
    config["handlers"]["console"].update(class_="logging.FileHandler")
    config["handlers"]["console"] = {
        "class": "logging.FileHandler",
        "filename": str(path),
        "formatter": "json",
        "filters": ["context"],
    }
    config["loggers"].update({name: {"level": "DEBUG"} for name in PRODUCT_LOGGERS})
    logging.config.dictConfig(config)
    yield path
    logging.config.dictConfig(settings.LOGGING)
    for name in PRODUCT_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def _mllp_send(host: str, port: int, message: str) -> str:
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(b"\x0b" + message.encode() + b"\x1c\r")
        answer = b""
        while not answer.endswith(b"\x1c\r"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer.decode(errors="replace")


def _spellings(value: date) -> set[str]:
    return {
        value.isoformat(),
        value.strftime("%Y%m%d"),
        value.strftime("%m/%d/%Y"),
        f"{value.month}/{value.day}/{value.year}",
    }


def _phone_spellings(digits: str) -> set[str]:
    digits = digits.removeprefix("+1")[-10:]
    if len(digits) < 10:
        return set()
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return {digits, f"{a}-{b}-{c}", f"({a}){b}-{c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}"}


def _phi_values() -> dict[str, str]:
    """Each seeded PHI value (in the spellings a log could use) -> what it is."""
    found: dict[str, str] = {}
    for p in Patient.objects.all():
        for name in (f"{p.first_name} {p.last_name}", f"{p.last_name}, {p.first_name}"):
            found[name] = "name"
        found[f"{p.last_name}^{p.first_name}"] = "name (HL7)"
        for spelling in _spellings(p.date_of_birth):
            found[spelling] = "date of birth"
        for spelling in _phone_spellings("".join(ch for ch in p.phone if ch.isdigit())):
            found[spelling] = "phone"
        if p.email:
            found[p.email] = "email"
        if len(p.address_line) >= 6:
            found[p.address_line] = "address"
    for value in PatientIdentifier.objects.values_list("value", flat=True):
        if len(value) >= 5:
            found[value] = "MRN"
    for value in Coverage.objects.values_list("member_id", flat=True):
        if len(value) >= 5:
            found[value] = "member id"
    return found


@pytest.mark.worker
def test_a_full_traffic_pass_logs_no_phi(transactional_db, json_log, listener, agent, ops_manager):
    call_command(
        "seed_demo",
        "--locations", "2",
        "--providers", "4",
        "--patients", "40",
        "--days", "4",
        "--history-months", "1",
        "--seed", "7",
    )  # fmt: skip
    pms = Connector.objects.filter(role=Connector.Role.LOCATION_PMS).order_by("pk").first()
    assert pms is not None

    # HL7 over MLLP: a new patient, the same message again, and one the hub refuses.
    good = adt(
        "OBS-1",
        mrn=INBOUND["mrn"],
        last=INBOUND["last"],
        first=INBOUND["first"],
        dob=INBOUND["dob"],
        phone=INBOUND["phone"],
        app=pms.sending_application,
        facility=pms.sending_facility,
        authority=pms.identifier_system,
    )
    assert "MSA|AA" in _mllp_send(listener.host, listener.port, good)
    assert "MSA|AA" in _mllp_send(listener.host, listener.port, good)
    bad = good.replace("OBS-1", "OBS-2").replace("ADT^A04^ADT_A01", "ADT^A04^ADT_A01^EXTRA^X")
    bad = bad.replace("PID|1|", f"PID|1|{INBOUND['last']}|").replace("EVN|", "EVN|||||||||||||")
    _mllp_send(listener.host, listener.port, "MSH|garbage " + INBOUND["last"] + "\r")
    _mllp_send(listener.host, listener.port, bad)
    inbound_drain_task.apply(args=[sorted(set(listener.keys))])
    assert Message.objects.filter(control_id="OBS-1").count() == 1

    # The console: find by phone, open, hold, book, wrap up.
    patient = next(p for p in Patient.objects.order_by("pk") if p.phone)
    seeded_agent = User.objects.get(username="agent")  # has a home region, like a real one
    console = VerifiedClient()
    console.force_login(seeded_agent)
    console.post("/console/call/start/", {"caller_phone": patient.phone}, headers=HX)
    console.post("/console/patients/search/", {"query": patient.phone}, headers=HX)
    console.post(
        "/console/patients/search/",
        {"query": f"{patient.last_name} {patient.date_of_birth:%m/%d/%Y}"},
        headers=HX,
    )
    opened = console.post(
        "/console/patients/open/",
        {"patient_id": patient.pk, "widen_reason": "caller moved from another region"},
        headers=HX,
    )
    assert opened.status_code == 200
    vt = AppointmentType.objects.order_by("duration_minutes", "pk")[0]
    found = console.post("/console/slots/", {"appointment_type": vt.pk}, headers=HX)
    slot_id = re.search(
        r'<li class="(?:mine)?">\s*<form[^>]*>.*?name="slot_id" value="(\d+)"',
        found.content.decode(),
        re.S,
    )
    assert slot_id, "the finder offered no in-network slot"
    held = console.post(
        "/console/hold/", {"slot_id": slot_id.group(1), "appointment_type_id": vt.pk}, headers=HX
    )
    assert held.status_code == 200, held.content.decode()[:500]
    booked = console.post("/console/book/", {"reason": "new_problem"}, headers=HX)
    assert booked.status_code == 200, re.sub(
        r"\s+", " ", re.sub(r"<[^>]+>", " ", booked.content.decode())
    )[:800]
    console.post(
        "/console/call/wrap-up/", {"outcome": "booked", "reason": "new_problem"}, headers=HX
    )
    # Form errors carrying PHI: a registration with an impossible birth date.
    refused = console.post(
        "/console/patients/register/",
        {"first_name": patient.first_name, "last_name": patient.last_name,
         "date_of_birth": "1980-02-31", "phone": patient.phone},
        headers=HX,
    )  # fmt: skip
    assert refused.status_code in {200, 400, 422}

    # FHIR and the API with a token; a 4xx with PHI in the request.
    _, key = ApiToken.issue(agent, scopes=["fhir", "read", "book"])
    api = Client(headers={"Authorization": f"Bearer {key}"})
    assert api.get(f"/fhir/r4/Patient?family={patient.last_name}").status_code == 200
    identifier = PatientIdentifier.objects.filter(patient=patient).first()
    assert identifier is not None
    api.get(f"/fhir/r4/Patient?identifier={identifier.system}|{identifier.value}")
    assert api.get("/fhir/r4/Patient/999999999").status_code == 404
    bad_post = api.post(
        "/fhir/r4/Patient",
        {"resourceType": "Patient", "name": [{"family": patient.last_name}], "birthDate": "x"},
        content_type="application/fhir+json",
    )
    assert 400 <= bad_post.status_code < 500
    assert Client().get("/api/v1/me/").status_code in {401, 403}

    # X12 through the sandbox payer, FHIR polling and the sandbox location systems.
    eligibility_batch_task.apply(kwargs={"days": 7})
    for check_id in EligibilityCheck.objects.filter(sent_at__isnull=True).values_list(
        "pk", flat=True
    )[:5]:
        eligibility_check_send_task.apply(args=[check_id])
    assert EligibilityCheck.objects.exclude(status="pending").exists()
    fhir_poll_task.apply()
    sandbox_tick_task.apply()

    ops = VerifiedClient()
    ops.force_login(ops_manager)
    assert ops.get("/integrations/health/").status_code == 200
    assert Appointment.objects.filter(patient=patient).exists()

    text = json_log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines, "the traffic pass logged nothing: the capture is not wired"
    assert all({"timestamp", "level", "logger", "message"} <= set(line) for line in lines)
    leaks = {kind for value, kind in _phi_values().items() if value in text}
    for value in INBOUND.values():
        if value in text:
            leaks.add(f"inbound {value!r}")
    assert not leaks, f"PHI in the log: {sorted(leaks)}"
