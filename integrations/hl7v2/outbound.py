"""HL7 v2.5.1 messages the hub sends to location systems: SIU for appointments, ADT for
demographics. Built as strings from domain rows read at delivery time (so a retry sends
the latest truth). The relay checks each one with hl7apy before it leaves
(``hl7v2.validation``); tests/conformance checks every shape the same way.

SIU (chapter 10): SCH carries the appointment, TQ1 its timing, PID the patient, and one
RGS group the resources: AIS (service = visit type), AIL (location), AIP (provider).
ADT A04/A08 (chapter 3) use the ADT_A01 structure, where PV1 is required.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .ack import HUB_APPLICATION, HUB_FACILITY, _escape, hl7_timestamp

VERSION = "2.5.1"
HUB_PATIENT_SYSTEM = "CAREHUB"

# SIU trigger per outbox event; SCH-25 filler status (HL7 table 0278).
SIU_EVENTS = {
    "appointment.booked": ("S12", "Booked"),
    "appointment.rescheduled": ("S13", "Booked"),
    "appointment.modified": ("S14", "Booked"),
    "appointment.cancelled": ("S15", "Cancelled"),
    "appointment.no_show": ("S26", "Noshow"),
}
ADT_EVENTS = {"patient.created": "A04", "patient.updated": "A08"}


@dataclass(frozen=True)
class PatientWire:
    hub_id: int
    identifiers: tuple[tuple[str, str, str], ...]  # (system, value, kind)
    last_name: str
    first_name: str
    middle_name: str
    date_of_birth: str  # YYYYMMDD
    sex: str
    phone: str
    email: str
    address_line: str
    city: str
    state: str
    zip_code: str
    language: str


@dataclass(frozen=True)
class AppointmentWire:
    hub_id: int
    patient: PatientWire
    start: datetime
    end: datetime
    type_code: str
    type_name: str
    duration_minutes: int
    location_code: str
    location_name: str
    provider_npi: str
    provider_last: str
    provider_first: str
    status: str  # hub status, for the cancel reason text
    reason: str = ""
    previous_hub_id: int | None = None
    video_link: str = ""  # a telehealth visit's link (random token, no PHI)
    overbooked: bool = False
    series_id: int | None = None
    # The second staff member a two-resource visit books (a hygienist or assistant):
    # (NPI, last name, first name), or None.
    assistant: tuple[str, str, str] | None = None


def _e(value: object) -> str:
    return _escape(str(value or ""))


def _msh(receiver_app: str, receiver_facility: str, msg_type: str, control_id: str) -> str:
    return "|".join(
        [
            "MSH",
            "^~\\&",
            HUB_APPLICATION,
            HUB_FACILITY,
            _e(receiver_app),
            _e(receiver_facility),
            hl7_timestamp(),
            "",
            msg_type,
            _e(control_id),
            "P",
            VERSION,
            "",
            "",
            "AL",  # MSH-15 accept ack: always
            "NE",  # MSH-16 application ack: never (original mode ACK is the answer)
            "USA",
            "UNICODE UTF-8",
        ]
    )


def _pid(p: PatientWire) -> str:
    ids = [f"{p.hub_id}^^^{HUB_PATIENT_SYSTEM}^PI"] + [
        f"{_e(value)}^^^{_e(system)}^{kind}" for system, value, kind in p.identifiers
    ]
    phones = []
    if p.phone:
        phones.append(f"^PRN^PH^^^{p.phone[:3]}^{p.phone[3:]}")
    if p.email:
        phones.append(f"^NET^Internet^{_e(p.email)}")
    fields = [
        "PID",
        "1",
        "",
        "~".join(ids),
        "",
        f"{_e(p.last_name)}^{_e(p.first_name)}^{_e(p.middle_name)}",
        "",
        p.date_of_birth,
        p.sex if p.sex in {"F", "M", "O", "U"} else "U",
        "",
        "",
        f"{_e(p.address_line)}^^{_e(p.city)}^{_e(p.state)}^{_e(p.zip_code)}^USA",
        "",
        "~".join(phones),
        "",
        _e(p.language),
    ]
    return "|".join(fields)


def build_siu(
    appt: AppointmentWire,
    *,
    event_type: str,
    control_id: str,
    receiver_app: str = "",
    receiver_facility: str = "",
) -> str:
    trigger, filler_status = SIU_EVENTS[event_type]
    start, end = hl7_timestamp(appt.start), hl7_timestamp(appt.end)
    placer = f"{appt.hub_id}^{HUB_APPLICATION}"
    reason = {"S15": "CANCEL^Cancelled", "S26": "NOSHOW^No show"}.get(trigger, "BOOK^Booked")
    sch = "|".join(
        [
            "SCH",
            placer,  # SCH-1 placer appointment id: ours
            "",  # SCH-2 filler appointment id: the PMS's, unknown to us
            "",
            # SCH-4 placer group number (EI): the recurring series the visit belongs to,
            # the v2.5.1 field for "requests scheduled as a group" (chapter 10.6.1).
            f"{appt.series_id}^{HUB_APPLICATION}" if appt.series_id else "",
            "",
            reason,  # SCH-6 event reason
            _e(appt.reason),  # SCH-7 appointment reason
            f"{_e(appt.type_code)}^{_e(appt.type_name)}",  # SCH-8 appointment type
            str(appt.duration_minutes),  # SCH-9 duration (kept for v2.3-era receivers)
            "min",  # SCH-10 units
            f"^^{appt.duration_minutes}^{start}^{end}",  # SCH-11 timing (backward compatible)
            "",
            "",
            "",
            "",
            "^Central Scheduling^Care Hub",  # SCH-16 filler contact person (required)
            "",
            "",
            "",
            "^Central Scheduling^Care Hub",  # SCH-20 entered by person (required)
            "",
            "",
            "",
            "",
            filler_status,  # SCH-25 filler status code
        ]
    )
    segments = [
        _msh(receiver_app, receiver_facility, f"SIU^{trigger}^SIU_S12", control_id),
        sch,
        f"TQ1|1||||||{start}|{end}",
        _pid(appt.patient),
        f"PV1|1|O|{_e(appt.location_code)}",
        "RGS|1|U",
        f"AIS|1|U|{_e(appt.type_code)}^{_e(appt.type_name)}|{start}|||{appt.duration_minutes}|min",
        f"AIL|1|U|^^^{_e(appt.location_code)}^^^^^{_e(appt.location_name)}|||{start}|||{appt.duration_minutes}|min",
        f"AIP|1|U|{_e(appt.provider_npi)}^{_e(appt.provider_last)}^{_e(appt.provider_first)}^^^^^^NPI|||{start}|||{appt.duration_minutes}|min",
    ]
    if appt.assistant is not None:
        # A second AIP in the same resource group: the PMS books the hygienist's column
        # too. AIP-4 (resource role) has no standard table entry for it: a local code.
        npi, last, first = appt.assistant
        segments.append(
            f"AIP|2|U|{_e(npi)}^{_e(last)}^{_e(first)}^^^^^^NPI|ASSIST^Assisting staff^L|"
            f"|{start}|||{appt.duration_minutes}|min"
        )
    notes = []
    if appt.previous_hub_id and trigger == "S13":
        # The appointment this one replaces, so the PMS can move rather than duplicate it.
        notes.append(f"rescheduled from {appt.previous_hub_id}")
    # SIU has no field for a video visit's address or for a deliberate double-booking
    # (SCH-25 is the filler's status): NTE comments are what a front desk sees.
    if appt.video_link:
        notes.append(f"Video visit: {_e(appt.video_link)}")
    if appt.overbooked:
        notes.append("Overbooked (deliberate double-booking)")
    for i, note in enumerate(notes, start=1):
        segments.insert(1 + i, f"NTE|{i}||{note}")
    return "\r".join(segments) + "\r"


def build_adt(
    patient: PatientWire,
    *,
    event_type: str,
    control_id: str,
    receiver_app: str = "",
    receiver_facility: str = "",
) -> str:
    trigger = ADT_EVENTS[event_type]
    segments = [
        _msh(receiver_app, receiver_facility, f"ADT^{trigger}^ADT_A01", control_id),
        f"EVN|{trigger}|{hl7_timestamp()}",
        _pid(patient),
        "PV1|1|N",
    ]
    return "\r".join(segments) + "\r"
