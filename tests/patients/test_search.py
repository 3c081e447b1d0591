from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from patients.models import DuplicateCandidate, Patient, PatientIdentifier
from patients.search_query import parse_query
from patients.selectors import patient_search
from tests import factories as f

pytestmark = pytest.mark.django_db


def ids(hits):
    return [h.id for h in hits]


def test_parse_query_splits_names_dob_phone_and_ids():
    parsed = parse_query("Gonzlez, Maria 04/12/1985 MRN-77")
    assert parsed.names == ("Gonzlez", "Maria")
    assert parsed.date_of_birth == date(1985, 4, 12)
    assert parsed.tokens == ("MRN-77",)
    assert parse_query("(303) 555-0101").phone == "3035550101"


def test_a_typo_in_the_last_name_still_finds_the_patient(agent):
    maria = f.patient(first_name="Maria", last_name="Gonzalez")
    f.patient(first_name="Mark", last_name="Gordon")

    assert ids(patient_search(query="Gonzlez", user=agent)) == [maria.pk]
    assert ids(patient_search(query="maria gonzales", user=agent))[0] == maria.pk
    assert ids(patient_search(query="Gonzalez, Maria", user=agent))[0] == maria.pk


def test_name_and_dob_rank_the_right_person_first(agent):
    older = f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1950, 1, 2))
    right = f.patient(first_name="Maria", last_name="Gonzalez", date_of_birth=date(1985, 4, 12))

    hits = patient_search(query="Gonzlez 1985-04-12", user=agent)

    assert ids(hits)[0] == right.pk
    assert "date of birth" in hits[0].matched_on
    assert older.pk not in ids(hits)[:1]


def test_phone_mrn_and_member_id_find_the_patient(agent):
    loc = f.location(name="Aurora Dental")
    p = f.patient(phone="3035550142")
    PatientIdentifier.objects.create(patient=p, system="AUR-EHR", value="A12345", location=loc)
    cov = f.coverage(patient=p)
    f.patient()

    assert ids(patient_search(query="303-555-0142", user=agent)) == [p.pk]
    assert ids(patient_search(query="a12345", user=agent)) == [p.pk]
    assert ids(patient_search(query=cov.member_id, user=agent)) == [p.pk]


def test_dob_alone_finds_everyone_born_that_day(agent):
    a = f.patient(date_of_birth=date(1990, 7, 30))
    b = f.patient(date_of_birth=date(1990, 7, 30))
    f.patient(date_of_birth=date(1991, 7, 30))

    assert set(ids(patient_search(query="07/30/1990", user=agent))) == {a.pk, b.pk}


def test_possible_duplicates_are_flagged(agent):
    a = f.patient(first_name="Jon", last_name="Smithe", date_of_birth=date(1970, 3, 3))
    b = f.patient(first_name="John", last_name="Smithe", date_of_birth=date(1970, 3, 3))
    c = f.patient(first_name="Ann", last_name="Smithe", date_of_birth=date(2001, 9, 9))
    d = f.patient(first_name="Anne", last_name="Smyth", date_of_birth=date(1960, 1, 1))
    DuplicateCandidate.objects.create(patient_a=c, patient_b=d, score=0.8, reason="on file")

    hits = {h.id: h for h in patient_search(query="Smithe", user=agent)}

    assert hits[a.pk].possible_duplicates == [b.pk]
    assert hits[b.pk].possible_duplicates == [a.pk]
    assert hits[c.pk].possible_duplicates == [d.pk]


def test_merged_records_are_not_offered(agent):
    survivor = f.patient(last_name="Nakamura")
    f.patient(last_name="Nakamura", status=Patient.Status.MERGED, merged_into=survivor)

    assert ids(patient_search(query="Nakamura", user=agent)) == [survivor.pk]


def test_search_needs_the_view_permission(outsider):
    with pytest.raises(PermissionDenied):
        patient_search(query="x", user=outsider)


def test_nonsense_finds_nobody(agent):
    f.patient(last_name="Gonzalez")
    assert patient_search(query="Zzyzx", user=agent) == []
    assert patient_search(query="   ", user=agent) == []


def test_an_unknown_first_name_falls_back_to_the_surname(agent):
    robert = f.patient(first_name="Robert", last_name="Castellano")

    assert ids(patient_search(query="Bob Castelano", user=agent)) == [robert.pk]


def test_with_a_dob_typed_namesakes_from_other_years_drop_out(agent):
    right = f.patient(first_name="Ana", last_name="Silva", date_of_birth=date(1990, 5, 20))
    f.patient(first_name="Ana", last_name="Silva", date_of_birth=date(1961, 5, 20))

    assert ids(patient_search(query="Silvaa 05/20/1990", user=agent)) == [right.pk]


def test_equal_matches_are_listed_alphabetically(agent):
    zoe = f.patient(first_name="Zoe", last_name="Brandt")
    amy = f.patient(first_name="Amy", last_name="Brandt")

    assert ids(patient_search(query="Brandt", user=agent)) == [amy.pk, zoe.pk]


def test_a_new_patient_is_findable_by_typo_at_once(agent):
    f.patient(last_name="Gonzalez")
    assert patient_search(query="Gonzlez", user=agent)  # builds the surname cache
    newcomer = f.patient(first_name="Ines", last_name="Wojciechowska")

    assert ids(patient_search(query="Wojciechowsk", user=agent)) == [newcomer.pk]


def test_it_finds_patients_by_the_last_digits_of_their_phone(agent):
    caller = f.patient(last_name="Quartz", phone="7205550142")
    f.patient(last_name="Other", phone="7205550999")

    assert ids(patient_search(query="0142", user=agent)) == [caller.pk]
    assert ids(patient_search(query="555-0142", user=agent)) == [caller.pk]
    assert ids(patient_search(query="Quartz 0142", user=agent)) == [caller.pk]
    assert patient_search(query="0142", user=agent)[0].matched_on == ["end of phone number"]
    # Three digits match too many numbers to list.
    assert patient_search(query="142", user=agent) == []
