"""PHI columns hold ciphertext that names its key; lookups go through blind indexes."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from config.crypto import DecryptionError, blind_index, decrypt_text, encrypt_text
from config.crypto.keys import new_key, parse_data_keys
from patients.models import Patient, PatientIdentifier
from patients.selectors import patient_search
from tests import factories as f
from tests.test_settings import boot

pytestmark = pytest.mark.django_db


def _column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def test_it_stores_a_patients_identifying_fields_as_ciphertext_naming_the_key(settings):
    patient = f.patient(
        first_name="Ottoline", last_name="Quarrington", phone="3035550199", email="o@q.test"
    )
    kid = settings.HUB_DATA_KEYS[0][0]
    for column in ("first_name", "last_name", "date_of_birth", "phone", "email"):
        stored = _column("patients_patient", column, patient.pk)
        assert stored.startswith(f"E1${kid}$"), column
        assert "Ottoline" not in stored and "3035550199" not in stored
    fresh = Patient.objects.get(pk=patient.pk)
    assert (fresh.first_name, fresh.phone) == ("Ottoline", "3035550199")


def test_the_same_value_encrypts_differently_each_time():
    assert encrypt_text("Rivera") != encrypt_text("Rivera")
    assert decrypt_text(encrypt_text("Rivera")) == "Rivera"


def test_an_older_key_still_decrypts_after_a_new_one_is_put_first(settings):
    old = encrypt_text("Gonzalez")
    settings.HUB_DATA_KEYS = [
        ("next", base64.urlsafe_b64decode(new_key())),
        *settings.HUB_DATA_KEYS,
    ]
    assert encrypt_text("x").startswith("E1$next$")
    assert decrypt_text(old) == "Gonzalez"


def test_a_value_under_a_key_no_longer_listed_fails_clearly_without_the_value(settings):
    sealed = encrypt_text("Gonzalez")
    settings.HUB_DATA_KEYS = [("other", base64.urlsafe_b64decode(new_key()))]
    with pytest.raises(DecryptionError, match="no longer lists") as caught:
        decrypt_text(sealed)
    assert "Gonzalez" not in str(caught.value)


def test_an_altered_ciphertext_is_refused_not_misread():
    sealed = encrypt_text("3035550199")
    flipped = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(DecryptionError, match="failed authentication"):
        decrypt_text(flipped)


def test_filtering_on_an_encrypted_column_is_refused_at_query_time():
    with pytest.raises(FieldError, match="look it up through its blind index"):
        Patient.objects.filter(phone="3035550199").exists()
    with pytest.raises(FieldError):
        Patient.objects.filter(last_name__icontains="riv").exists()


def test_blind_indexes_differ_between_domains_and_ignore_formatting():
    patient = f.patient(phone="3035550199", date_of_birth=date(1980, 2, 14))
    assert patient.phone_bidx == blind_index("phone", "3035550199")
    assert blind_index("phone", "3035550199") != blind_index("identifier", "3035550199")
    assert Patient.objects.filter(phone_bidx=blind_index("phone", "3035550199")).get() == patient
    assert patient.birth_year == 1980


def test_search_finds_patients_by_phone_dob_mrn_and_misspelt_name(agent):
    patient = f.patient(
        first_name="Maria", last_name="Gonzalez", phone="7205550111", date_of_birth=date(1975, 3, 9)
    )
    PatientIdentifier.objects.create(patient=patient, system="DEN-EHR", value="MRN77410")
    cover = f.coverage(patient=patient)
    cover.member_id = "XQZ4417001"
    cover.save(update_fields=["member_id"])  # the index must follow a partial save too
    queries = (
        "7205550111",
        "Gonzlez",
        "Maria Gonzlez",
        "Gonzalez 03/09/1975",
        "MRN77410",
        "xqz4417001",
    )
    for query in queries:
        assert patient.pk in [hit.id for hit in patient_search(query=query, user=agent)], query


def test_a_renamed_patient_is_found_under_the_new_name_only(agent):
    patient = f.patient(first_name="Ada", last_name="Blythewood")
    patient.last_name = "Castellanos"
    patient.save(update_fields=["last_name"])
    assert patient.pk in [h.id for h in patient_search(query="Castellanos", user=agent)]
    assert patient.pk not in [h.id for h in patient_search(query="Blythewood", user=agent)]


def test_the_session_payload_is_encrypted(client, admin_user):
    client.force_login(admin_user)
    session = client.session
    session["admin_private_search"] = {"tok": "Quarrington"}
    session.save()
    stored = _column_session(session.session_key)
    assert stored.startswith("E1$") and "Quarrington" not in stored
    assert client.session["admin_private_search"] == {"tok": "Quarrington"}


def _column_session(key: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_data FROM django_session WHERE session_key = %s", [key])
        return cursor.fetchone()[0]


def test_malformed_data_keys_are_refused_with_a_message_that_names_the_entry():
    with pytest.raises(Exception, match="entry 2 is malformed"):
        parse_data_keys(f"a:{new_key()},b:not-a-key")


def test_production_refuses_to_start_without_data_keys(tmp_path):
    result = boot(HUB_ENV="production", HUB_VAR_DIR=str(tmp_path), HUB_DATA_KEYS="")
    assert result.returncode != 0
    assert "HUB_DATA_KEYS (or HUB_DATA_KEYS_FILE) must be set in production" in result.stderr
    assert not (tmp_path / "data_keys").exists()
