"""Clinical needs read from the location EHRs: FHIR AllergyIntolerance / Condition / Flag
polled over HTTP and HL7 AL1 / IAM / OBX / Z-segments over MLLP become facts that routing
enforces through the need rules, and stop applying when the EHR withdraws them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hl7.client import MLLPClient

from integrations import inbound
from integrations.fhir.client import fhir_poll
from integrations.hl7v2.ack import ack_code
from integrations.models import ClinicalSegmentMap, Connector, Message
from patients.clinical import clinical_need_rule_apply
from patients.models import ClinicalFact, ClinicalNeedRule, PatientIdentifier
from patients.mpi.upsert import identifier_index
from scheduling.models import Equipment
from scheduling.selectors import slot_search
from tests import factories as f

from .hl7_samples import adt
from .test_fhir_client import FakeEhr

pytestmark = pytest.mark.django_db
DAY = (datetime.now(tz=UTC) + timedelta(days=3)).replace(hour=16, minute=0, second=0, microsecond=0)
SNOMED = "http://snomed.info/sct"
LATEX_ROOM = "Latex-free operatory"
REASON = f"has no {LATEX_ROOM}, which the patient's recorded care needs require"


@pytest.fixture
def ehr():
    server = FakeEhr()
    yield server
    server.server.shutdown()


@pytest.fixture
def sites(pms):
    """The PMS's own location (no latex-free room) and a second one that has one, each with a
    provider and free slots; a need rule maps latex allergy (SNOMED and the PMS's local
    allergen code) to that room, and a premedication code to an alert."""
    room = Equipment.objects.create(code="latex-free-op", name=LATEX_ROOM)
    other = f.location(region=pms.location.region, equipment=["latex-free-op"])
    for loc in (pms.location, other):
        provider = f.provider(locations=[loc])
        for i in range(2):
            f.slot(provider=provider, location=loc, start=DAY + timedelta(minutes=30 * i))
    for system, code in ((SNOMED, "300916003"), ("", "LATEX")):
        ClinicalNeedRule.objects.create(
            code_system=system, code=code, description="Latex allergy", requires_equipment=room
        )
    ClinicalNeedRule.objects.create(
        code="Z952", description="Prosthetic valve", provider_alert="Antibiotic premedication"
    )
    return pms.location, other


def _search(patient):
    return slot_search(
        patient=patient, appointment_type=f.appointment_type(), home_region_only=False
    )


def _excluded_reasons(result, location) -> list[str]:
    return [r for e in result.excluded if e.id == location.pk for r in e.reasons]


def _drain() -> None:
    inbound.inbound_drain_keys(inbound.inbound_due_keys())


def _allergy(status: str = "active", verification: str = "confirmed", version: int = 1) -> dict:
    stamp = (datetime(2026, 11, 20, 12, 0, tzinfo=UTC) + timedelta(minutes=version)).isoformat()
    return {
        "resourceType": "AllergyIntolerance",
        "id": "alg-1",
        "meta": {"versionId": str(version), "lastUpdated": stamp.replace("+00:00", "Z")},
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": status,
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                    "code": verification,
                }
            ]
        },
        "code": {
            "coding": [{"system": SNOMED, "code": "300916003", "display": "Latex allergy"}],
            "text": "Latex allergy",
        },
        "patient": {"reference": "Patient/p1"},
        "recordedDate": stamp,
    }


def test_a_fhir_allergy_excludes_a_location_with_the_reason_and_entered_in_error_lifts_it(
    ehr, sites, settings
):
    settings.INTEGRATIONS_KICK_RELAY = False
    home, other = sites
    connector = Connector.objects.create(
        name="Denver EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=home,
        endpoint=ehr.base,
        identifier_system="DEN-EHR",
    )
    ehr.put(
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": {"versionId": "1", "lastUpdated": "2026-11-20T11:00:00Z"},
            "name": [{"family": "Lindqvist", "given": ["Maja"]}],
            "birthDate": "1990-03-04",
        }
    )
    ehr.put(_allergy())

    fhir_poll(connector)
    _drain()

    fact = ClinicalFact.objects.get()
    assert fact.status == "active" and fact.active and fact.kind == "allergy"
    assert (fact.source_system, fact.code, fact.code_system) == ("Denver EHR", "300916003", SNOMED)
    patient = fact.patient
    result = _search(patient)
    assert {o.location_id for o in result.options} == {other.pk}
    assert any(REASON in r for r in _excluded_reasons(result, home))

    # The EHR marks the allergy entered in error: the same fact stops excluding.
    ehr.put(_allergy(verification="entered-in-error", version=2))
    fhir_poll(connector)
    _drain()

    fact.refresh_from_db()
    assert ClinicalFact.objects.count() == 1
    assert fact.status == "entered_in_error" and not fact.active
    assert {o.location_id for o in _search(patient).options} == {home.pk, other.pk}
    assert all(m.status == "processed" for m in Message.objects.filter(direction="in"))


def test_a_resolved_problem_list_condition_and_an_inactive_flag_do_not_apply(ehr, sites, settings):
    settings.INTEGRATIONS_KICK_RELAY = False
    home, _ = sites
    connector = Connector.objects.create(
        name="Denver EHR",
        kind=Connector.Kind.FHIR_R4,
        role=Connector.Role.LOCATION_EHR,
        location=home,
        endpoint=ehr.base,
        identifier_system="DEN-EHR",
    )
    meta = {"versionId": "1", "lastUpdated": "2026-11-20T11:00:00Z"}
    ehr.put(
        {
            "resourceType": "Patient",
            "id": "p1",
            "meta": meta,
            "name": [{"family": "Osei", "given": ["Ama"]}],
            "birthDate": "1990-03-04",
        }
    )
    ehr.put(
        {
            "resourceType": "Condition",
            "id": "c1",
            "meta": meta,
            "clinicalStatus": {"coding": [{"code": "resolved"}]},
            "category": [{"coding": [{"code": "problem-list-item"}]}],
            "code": {"coding": [{"system": SNOMED, "code": "300916003"}]},
            "subject": {"reference": "Patient/p1"},
        }
    )
    ehr.put(
        {
            "resourceType": "Flag",
            "id": "f1",
            "meta": meta,
            "status": "active",
            "code": {"coding": [{"code": "Z952"}], "text": "Premedicate"},
            "subject": {"reference": "Patient/p1"},
        }
    )

    fhir_poll(connector)
    _drain()

    facts = {fa.kind: fa for fa in ClinicalFact.objects.all()}
    assert facts["condition"].status == "resolved" and not facts["condition"].active
    assert facts["alert"].active and facts["alert"].need_rule.provider_alert == (
        "Antibiotic premedication"
    )
    assert {o.location_id for o in _search(facts["alert"].patient).options} >= {home.pk}


def _send(listener, *messages: str) -> list[str]:
    with MLLPClient(listener.host, listener.port) as client:
        acks = [ack_code(client.send_message(m).decode()) for m in messages]
    # Drained from the ledger (stored before each ACK), not from the listener's dispatch
    # list, which the listener fills after answering.
    inbound.inbound_drain_keys(inbound.inbound_due_keys())
    return acks


def _with(message: str, *segments: str) -> str:
    return message + "\r".join(segments) + "\r"


def test_an_al1_over_mllp_excludes_a_location_and_an_iam_delete_lifts_it(listener, sites):
    home, other = sites

    acks = _send(listener, _with(adt("AL-1"), "AL1|1|MA|LATEX^Latex^L|SV|Hives|20260101"))

    assert acks == ["AA"]
    assert Message.objects.get(control_id="AL-1").status == "processed"
    patient = PatientIdentifier.objects.get(value_bidx=identifier_index("MRN1001")).patient
    fact = ClinicalFact.objects.get(patient=patient)
    assert (fact.kind, fact.code, fact.source_system) == ("allergy", "LATEX", "DENPMS")
    result = _search(patient)
    assert {o.location_id for o in result.options} == {other.pk}
    assert any(REASON in r for r in _excluded_reasons(result, home))

    # The same allergy again in an update changes nothing; an A60 deleting it lifts it.
    a60 = adt("AL-3", event="A60").replace("ADT_A39", "ADT_A60")
    acks = _send(
        listener,
        _with(adt("AL-2", event="A08"), "AL1|1|MA|LATEX^Latex^L"),
        _with(a60, "IAM|1|MA|LATEX^Latex^L|||D|||||||20261123090000"),
    )

    assert acks == ["AA", "AA"]
    assert Message.objects.get(control_id="AL-3").status == "processed"
    fact.refresh_from_db()
    assert ClinicalFact.objects.filter(patient=patient).count() == 1
    assert fact.status == "inactive" and not fact.active
    assert {o.location_id for o in _search(patient).options} == {home.pk, other.pk}


def test_obx_observations_and_configured_z_segments_become_needs(listener, sites, pms):
    home, other = sites
    wheelchair = Equipment.objects.create(code="wheelchair-op", name="Accessible operatory")
    other.equipment.add(wheelchair)
    ClinicalNeedRule.objects.create(
        code="WHEELCHAIR", description="Wheelchair", requires_equipment=wheelchair
    )
    ClinicalSegmentMap.objects.create(
        connector=pms, segment="ZCN", kind="need", code_field=2, status_field=3,
        inactive_values="R,E",
    )  # fmt: skip

    _send(
        listener,
        _with(
            adt("OB-1"),
            "OBX|1|NM|29463-7^Body weight^LN||70|kg|||||F",
            "OBX|2|CWE|MOBILITY^Mobility^L||WHEELCHAIR^Uses a wheelchair^L||||||F",
            "ZCN|1|LATEX^Latex sensitivity^L|A",
        ),
    )

    patient = PatientIdentifier.objects.get(value_bidx=identifier_index("MRN1001")).patient
    codes = {fa.code: fa for fa in ClinicalFact.objects.filter(patient=patient)}
    assert set(codes) == {"WHEELCHAIR", "LATEX"}, "the body weight is not a clinical fact"
    assert codes["WHEELCHAIR"].requires_equipment == wheelchair
    assert {o.location_id for o in _search(patient).options} == {other.pk}

    # The mobility observation changes to a value no rule names, and the Z-segment's
    # status says resolved: neither applies any more.
    _send(
        listener,
        _with(
            adt("OB-2", event="A08"),
            "OBX|1|CWE|MOBILITY^Mobility^L||INDEPENDENT^Walks unaided^L||||||F",
            "ZCN|1|LATEX^Latex sensitivity^L|R",
        ),
    )

    assert not ClinicalFact.objects.filter(patient=patient, active=True).exists()
    assert {o.location_id for o in _search(patient).options} == {home.pk, other.pk}


def test_the_batched_worker_path_records_facts_like_one_by_one(pms, sites):
    from integrations.ledger import inbound_store_batch

    stored = inbound_store_batch(
        [
            _with(
                adt(f"B-{i}", mrn=f"MRN2{i:03d}", last=last, dob=f"1980021{i}", phone=""),
                "AL1|1|MA|LATEX^Latex^L",
            )
            for i, last in enumerate(("Okafor", "Brandt", "Sato", "Moreau", "Haddad"))
        ]
        + [adt("B-9", mrn="MRN2999", last="Plain")]
    )

    assert inbound.inbound_drain_batch([s.ordering_key for s in stored]) == 6

    assert ClinicalFact.objects.filter(active=True, code_bidx__gt="").count() == 5
    assert set(ClinicalFact.objects.values_list("requires_equipment__code", flat=True)) == {
        "latex-free-op"
    }
    assert all(m.status == "processed" for m in Message.objects.filter(direction="in"))


def test_an_older_resend_does_not_overwrite_a_newer_withdrawal(pms, sites):
    from patients.clinical import ClinicalFactRecord, clinical_fact_record

    patient = f.patient()
    when = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

    def record(status: str, at: datetime) -> ClinicalFact | None:
        return clinical_fact_record(
            patient=patient,
            record=ClinicalFactRecord(
                source_system="EHR",
                record_id="AllergyIntolerance/9",
                kind="allergy",
                code="300916003",
                code_system=SNOMED,
                description="Latex allergy",
                status=status,
                recorded_at=at,
            ),
        )

    record("entered_in_error", when + timedelta(hours=1))
    assert record("active", when) is None, "the older version arrived late"

    fact = ClinicalFact.objects.get(patient=patient)
    assert fact.status == "entered_in_error" and not fact.active


def test_a_rule_added_later_applies_to_facts_already_on_file_and_is_audited(pms, sites):
    from config.models import AuditEntry

    home, other = sites
    patient = f.patient()
    fact = ClinicalFact.objects.create(
        patient=patient,
        kind="need",
        code="Z993",
        description="Uses a wheelchair",
        recorded_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    wheelchair = Equipment.objects.create(code="wheelchair-op", name="Accessible operatory")
    other.equipment.add(wheelchair)
    assert {o.location_id for o in _search(patient).options} == {home.pk, other.pk}
    before = AuditEntry.objects.filter(content_type__model="clinicalfact").count()

    rule = ClinicalNeedRule.objects.create(
        code="Z993", description="Wheelchair", requires_equipment=wheelchair
    )
    assert clinical_need_rule_apply(rule=rule) == 1

    fact.refresh_from_db()
    assert fact.need_rule == rule and fact.requires_equipment == wheelchair
    assert {o.location_id for o in _search(patient).options} == {other.pk}
    assert AuditEntry.objects.filter(content_type__model="clinicalfact").count() == before + 1
