"""The sandbox location PMS/EHR.

It behaves like the system on the other end of an HL7 v2 connector:

* it **receives** what the hub's relay sends (SIU, ADT), keeps its own appointment book,
  and answers with an ACK (AE with an ERR segment for what it cannot read);
* its **front desk books** walk-in and phone appointments and sends SIU^S12 (after an
  ADT^A04 for a patient it registers), in HL7 v2.4 with the timing in SCH-11 as many
  older PMSs do;
* **after each visit** it documents it: DFT^P03 with the visit type's CPT/CDT codes in
  FT1 and ICD-10-CM diagnoses in DG1, or SIU^S26 when the patient did not come.

Everything it sends goes through the hub's normal inbound path (ledger, then workers),
so the demo exercises exactly the code production uses. Its state is its own table
(SandboxAppointment), never the hub's.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from integrations.hl7v2.ack import AA, AE, build_ack, hl7_timestamp
from integrations.hl7v2.reader import HL7FormatError, ParsedMessage, check_message
from integrations.models import Connector, SandboxAppointment
from integrations.transports import Delivered, Resource, Transport, TransportError

SANDBOX_VERSION = "2.4"
NO_SHOW_RATE = 0.08
FIRST_NAMES = ["Avery", "Jordan", "Riley", "Morgan", "Casey", "Quinn", "Rowan", "Sage", "Emery"]
LAST_NAMES = ["Nakamura", "Okafor", "Lindqvist", "Haddad", "Moreau", "Castillo", "Petrov", "Iyer"]


def _ts(moment: datetime, tz: Any) -> str:
    """HL7 DTM in the location's wall time without an offset, as many PMSs send it."""
    return moment.astimezone(tz).strftime("%Y%m%d%H%M")


class SandboxPMS:
    def __init__(self, connector: Connector) -> None:
        if connector.location_id is None:
            raise ValueError("a sandbox PMS belongs to a location")
        self.connector = connector
        self.location_id: int = connector.location_id
        self.app = connector.sending_application or f"SBX{connector.pk}"
        self.facility = connector.sending_facility or "SBX"
        self.system = connector.identifier_system or f"SBX{connector.pk}-PMS"

    # -- receiving from the hub ---------------------------------------------------
    def receive(self, raw: str) -> str:
        """Apply a message the hub sent and answer with the ACK a PMS would send."""
        # A PMS's ACK comes from the PMS (MSH-3/4), addressed to the hub (MSH-5/6).
        try:
            message = ParsedMessage(raw)
            check_message(message.header, raw)
            if message.header.message_code == "SIU":
                self._apply_siu(message)
            elif message.header.message_code != "ADT":
                raise HL7FormatError("message type not handled by this PMS", code="200", field=9)
        except HL7FormatError as exc:
            header = None
            with contextlib.suppress(HL7FormatError):
                header = ParsedMessage(raw).header
            return build_ack(
                header,
                AE,
                error=exc.reason,
                error_code=exc.code,
                field=exc.field,
                sending_application=self.app,
                sending_facility=self.facility,
            )
        return build_ack(
            message.header, AA, sending_application=self.app, sending_facility=self.facility
        )

    def _apply_siu(self, message: ParsedMessage) -> None:
        from integrations.hl7v2.fields import parse_hl7_datetime
        from scheduling.models import Location

        sch = message.require("SCH")
        hub_id = sch.get(1, 1)
        if sch.get(1, 2) != "CAREHUB" or not hub_id.isdigit():
            raise HL7FormatError(
                "SCH-1 carries no placer appointment id", code="101", segment="SCH", field=1
            )
        location = Location.objects.get(pk=self.location_id)
        tz = location.tz
        tq1 = message.first("TQ1")
        start = parse_hl7_datetime(tq1.get(7, 1), tz) if tq1 else None
        end = parse_hl7_datetime(tq1.get(8, 1), tz) if tq1 else None
        pid = message.require("PID")
        hub_patient = next(
            (
                pid.get(3, 1, rep=rep)
                for rep in range(1, len(pid.repetitions(3)) + 1)
                if pid.get(3, 4, rep=rep) == "CAREHUB"
            ),
            "",
        )
        mrn = (
            next(
                (
                    pid.get(3, 1, rep=rep)
                    for rep in range(1, len(pid.repetitions(3)) + 1)
                    if pid.get(3, 4, rep=rep) == self.system
                ),
                "",
            )
            or f"H{hub_patient}"
        )
        status = {
            "S15": SandboxAppointment.Status.CANCELLED,
            "S26": SandboxAppointment.Status.NO_SHOW,
        }.get(message.header.trigger_event, SandboxAppointment.Status.BOOKED)
        aip, ais = message.first("AIP"), message.first("AIS")
        defaults: dict[str, Any] = {
            "hub_appointment_id": int(hub_id),
            "patient_mrn": mrn,
            "patient": {
                "last_name": pid.get(5, 1),
                "first_name": pid.get(5, 2),
                "dob": pid.get(7, 1),
                "sex": pid.get(8, 1),
            },
            "hub_patient_id": int(hub_patient) if hub_patient.isdigit() else None,
            "provider_npi": aip.get(3, 1) if aip else "",
            "type_code": ais.get(3, 1) if ais else "",
            "status": status,
        }
        if start and end:
            defaults.update(start=start, end=end)
        existing = SandboxAppointment.objects.filter(
            connector=self.connector, hub_appointment_id=int(hub_id)
        ).first()
        previous = self._rescheduled_from(message)
        if existing is None and previous is not None:
            # The hub's reschedule replaces appointment `previous` with this one: move the
            # visit, as a PMS does, instead of keeping the old time on the book, where it
            # would later be reported as a no-show for an appointment that no longer is.
            existing = SandboxAppointment.objects.filter(
                connector=self.connector,
                hub_appointment_id=previous,
                status=SandboxAppointment.Status.BOOKED,
            ).first()
        if existing is None and message.header.trigger_event != "S12" and start:
            # A change to a visit this PMS's own front desk booked: it never learned the
            # hub's id, so it finds the visit by patient, provider and time, as staff would.
            # The MRN is encrypted: narrow by provider and time, then compare it here.
            existing = next(
                (
                    visit
                    for visit in SandboxAppointment.objects.filter(
                        connector=self.connector,
                        hub_appointment_id__isnull=True,
                        provider_npi=defaults["provider_npi"],
                        start__gte=start - timedelta(minutes=1),
                        start__lt=start + timedelta(minutes=1),
                    )
                    if visit.patient_mrn == mrn
                ),
                None,
            )
        if existing is None:
            if not (start and end):
                raise HL7FormatError("TQ1 carries no start and end", code="101", segment="TQ1")
            SandboxAppointment.objects.create(
                connector=self.connector, external_id=f"H{hub_id}", **defaults
            )
        elif existing.status != SandboxAppointment.Status.DOCUMENTED:
            for name, value in defaults.items():
                setattr(existing, name, value)
            existing.save()

    @staticmethod
    def _rescheduled_from(message: ParsedMessage) -> int | None:
        """The hub id in the relay's 'NTE|1||rescheduled from N' on an S13, if any."""
        if message.header.trigger_event != "S13":
            return None
        for nte in message.all("NTE"):
            words = nte.get(3, 1).split()
            if words[:2] == ["rescheduled", "from"] and len(words) == 3 and words[2].isdigit():
                return int(words[2])
        return None

    # -- what its own staff do ----------------------------------------------------------
    def _msh(self, msg_type: str) -> str:
        control = uuid.uuid4().hex[:20].upper()
        return (
            f"MSH|^~\\&|{self.app}|{self.facility}|CAREHUB|HUB|{hl7_timestamp()}||{msg_type}|"
            f"{control}|P|{SANDBOX_VERSION}"
        )

    def _pid(self, mrn: str, patient: dict[str, Any], hub_id: int | None) -> str:
        ids = f"{mrn}^^^{self.system}^MR" + (f"~{hub_id}^^^CAREHUB^PI" if hub_id else "")
        return (
            f"PID|1||{ids}||{patient['last_name']}^{patient['first_name']}||"
            f"{patient['dob']}|{patient['sex']}|||{patient['address']}^^{patient['city']}^"
            f"{patient['state']}^{patient['zip']}||{patient['phone']}"
        )

    def front_desk_booking(self, *, rng: random.Random, now: datetime) -> list[str]:
        """Book one free slot at this location for a local patient (sometimes a new one).
        Returns the HL7 messages the PMS sends about it (ADT^A04 first for a new patient)."""
        from patients.models import Patient, PatientIdentifier
        from scheduling.models import AppointmentType, Hold, Location, Slot

        location = Location.objects.get(pk=self.location_id)
        held = Hold.objects.filter(released_at__isnull=True, consumed_at__isnull=True).values(
            "slot_id"
        )
        candidates = list(
            Slot.objects.filter(
                location=location,
                status=Slot.Status.FREE,
                start__gte=now + timedelta(hours=2),
                start__lt=now + timedelta(days=14),
            )
            .exclude(pk__in=held)
            .select_related("provider")
            .order_by("start")[:400]
        )
        if not candidates:
            return []
        slot = rng.choice(candidates)
        minutes = int((slot.end - slot.start).total_seconds() // 60)
        capabilities = set(slot.provider.capabilities.values_list("pk", flat=True))
        equipment = set(location.equipment.values_list("pk", flat=True))
        types = [
            t
            for t in AppointmentType.objects.filter(
                active=True, duration_minutes=minutes
            ).prefetch_related("required_capabilities", "required_equipment")
            if {c.pk for c in t.required_capabilities.all()} <= capabilities
            and {e.pk for e in t.required_equipment.all()} <= equipment
        ]
        if not types:
            return []
        atype = rng.choice(types)
        messages: list[str] = []
        local = list(
            Patient.objects.filter(home_location=location, status=Patient.Status.ACTIVE).order_by(
                "?"
            )[:1]
        )
        if local and rng.random() > 0.15:
            person = local[0]
            mrn = (
                PatientIdentifier.objects.filter(patient=person, system=self.system)
                .values_list("value", flat=True)
                .first()
            ) or f"H{person.pk}"
            hub_id: int | None = person.pk
            demographics = {
                "first_name": person.first_name,
                "last_name": person.last_name,
                "dob": person.date_of_birth.strftime("%Y%m%d"),
                "sex": person.sex,
                "address": person.address_line,
                "city": person.city,
                "state": person.state,
                "zip": person.zip_code,
                "phone": person.phone,
            }
        else:
            hub_id = None
            mrn = f"N{uuid.uuid4().hex[:8].upper()}"
            demographics = {
                "first_name": rng.choice(FIRST_NAMES),
                "last_name": rng.choice(LAST_NAMES),
                "dob": f"{rng.randint(1945, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
                "sex": rng.choice("FM"),
                "address": f"{rng.randint(10, 9999)} Main St",
                "city": location.city,
                "state": location.state,
                "zip": location.zip_code,
                "phone": f"{rng.randint(200, 999)}555{rng.randint(0, 9999):04d}",
            }
            messages.append(
                "\r".join(
                    [
                        self._msh("ADT^A04^ADT_A01"),
                        f"EVN|A04|{hl7_timestamp()}",
                        self._pid(mrn, demographics, None),
                        "PV1|1|O",
                    ]
                )
                + "\r"
            )
        external_id = f"SBX{uuid.uuid4().hex[:10].upper()}"
        tz = location.tz
        start, end = _ts(slot.start, tz), _ts(slot.end, tz)
        messages.append(
            "\r".join(
                [
                    self._msh("SIU^S12^SIU_S12"),
                    f"SCH||{external_id}^{self.app}||||NEW^New booking|ROUTINE|"
                    f"{atype.code}^{atype.name}|{minutes}|min|^^{minutes}^{start}^{end}"
                    f"|||||^Front^Desk||||^Front^Desk",
                    self._pid(mrn, demographics, hub_id),
                    "RGS|1",
                    f"AIS|1||{atype.code}^{atype.name}",
                    f"AIL|1||^^^{location.code}|C^Clinic",
                    f"AIP|1||{slot.provider.npi}^{slot.provider.last_name}^{slot.provider.first_name}"
                    "|D^Dentist",
                ]
            )
            + "\r"
        )
        SandboxAppointment.objects.create(
            connector=self.connector,
            external_id=external_id,
            patient_mrn=mrn,
            patient={k: demographics[k] for k in ("last_name", "first_name", "dob", "sex")},
            hub_patient_id=hub_id,
            provider_npi=slot.provider.npi,
            type_code=atype.code,
            start=slot.start,
            end=slot.end,
            booked_here=True,
        )
        return messages

    def document_due(self, *, rng: random.Random, now: datetime, limit: int = 20) -> list[str]:
        """Visits whose time has passed: DFT^P03 with codes, or SIU^S26 for a no-show."""
        from scheduling.models import AppointmentType, Location

        location = Location.objects.get(pk=self.location_id)
        tz = location.tz
        messages = []
        due = SandboxAppointment.objects.filter(
            connector=self.connector, status=SandboxAppointment.Status.BOOKED, end__lte=now
        ).order_by("end")[:limit]
        local_now = now.astimezone(tz)
        for visit in due:
            if visit.end.astimezone(tz) > local_now or visit.start.astimezone(tz) > local_now:
                # Front-desk staff report on a visit only once its time is over where the
                # location is; the query already says so, this keeps it said if it changes.
                continue
            who = visit.patient
            demographics_pid = (
                f"PID|1||{visit.patient_mrn}^^^{self.system}^MR"
                + (f"~{visit.hub_patient_id}^^^CAREHUB^PI" if visit.hub_patient_id else "")
                + f"||{who.get('last_name', '')}^{who.get('first_name', '')}||"
                f"{who.get('dob', '')}|{who.get('sex', '')}"
            )
            visit_ref = (
                f"{visit.hub_appointment_id}^^^CAREHUB"
                if visit.hub_appointment_id
                else f"{visit.external_id}^^^{self.app}"
            )
            placer = f"{visit.hub_appointment_id}^CAREHUB" if visit.hub_appointment_id else ""
            if rng.random() < NO_SHOW_RATE:
                messages.append(
                    "\r".join(
                        [
                            self._msh("SIU^S26^SIU_S12"),
                            f"SCH|{placer}|{visit.external_id}^{self.app}||||NOSHOW^No show"
                            "|||||||||^Front^Desk||||^Front^Desk",
                            demographics_pid,
                            "RGS|1",
                        ]
                    )
                    + "\r"
                )
                visit.status = SandboxAppointment.Status.NO_SHOW
                visit.save(update_fields=["status", "updated_at"])
                continue
            atype = AppointmentType.objects.filter(code=visit.type_code).first()
            procedures = (atype.typical_procedure_codes if atype else []) or ["D0120"]
            diagnoses = (atype.typical_diagnosis_codes if atype else []) or ["Z01.20"]
            segments = [
                self._msh("DFT^P03^DFT_P03"),
                f"EVN|P03|{_ts(visit.end + timedelta(minutes=20), tz)}",
                demographics_pid,
                "PV1|1|O" + "|" * 47 + f"|{visit_ref}",
            ]
            segments += [f"DG1|{i}||{code}^^I10|||F" for i, code in enumerate(diagnoses, start=1)]
            segments += [
                f"FT1|{i}|{visit.external_id}-{i}||{_ts(visit.start, tz)}||CG|{code}|||1|||||||||"
                f"{diagnoses[0]}|{visit.provider_npi}|||||{code}"
                for i, code in enumerate(procedures, start=1)
            ]
            messages.append("\r".join(segments) + "\r")
            visit.status = SandboxAppointment.Status.DOCUMENTED
            visit.save(update_fields=["status", "updated_at"])
        return messages

    def load_schedule(self, *, since: datetime) -> int:
        """Initial load, as at go-live: the PMS learns the hub's booked appointments."""
        from scheduling.models import Appointment

        rows = []
        for appt in Appointment.objects.filter(
            location_id=self.location_id,
            status=Appointment.Status.BOOKED,
            end__gte=since,
        ).select_related("provider", "appointment_type", "patient"):
            rows.append(
                SandboxAppointment(
                    connector=self.connector,
                    external_id=f"H{appt.pk}",
                    hub_appointment_id=appt.pk,
                    patient_mrn=f"H{appt.patient_id}",
                    patient={
                        "last_name": appt.patient.last_name,
                        "first_name": appt.patient.first_name,
                        "dob": appt.patient.date_of_birth.strftime("%Y%m%d"),
                        "sex": appt.patient.sex,
                    },
                    hub_patient_id=appt.patient_id,
                    provider_npi=appt.provider.npi,
                    type_code=appt.appointment_type.code,
                    start=appt.start,
                    end=appt.end,
                )
            )
        SandboxAppointment.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)
        return len(rows)


class SandboxTransport(Transport):
    """The relay's transport for sandbox connectors: the message goes to the sandbox's
    receive() and its ACK comes back, exactly as over MLLP."""

    def send(self, payload: str, *, control_id: str, resource: Resource = None) -> Delivered:
        from integrations.hl7v2.ack import ack_code

        if resource is not None:  # a sandbox EHR: FHIR, answered like a FHIR server
            import json

            from .ehr import SandboxEHR

            body = SandboxEHR(self.connector).receive_fhir(resource)
            return Delivered(ack_code="200", response=json.dumps(body)[:4000])

        ack = SandboxPMS(self.connector).receive(payload)
        code = ack_code(ack)
        if code == AA:
            return Delivered(ack_code=code, response=ack)
        raise TransportError(f"sandbox rejected the message ({code})", permanent=True, response=ack)
