"""Key rotation re-encrypts a seeded database in resumable batches while it serves."""

from __future__ import annotations

import base64
import threading
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from config.crypto import key_id_of
from config.crypto import rotation as rotation_module
from config.crypto.keys import new_key
from patients.models import Patient
from patients.selectors import patient_search

pytestmark = pytest.mark.django_db(transaction=True)

SEED = ("--locations", "3", "--providers", "6", "--patients", "120", "--days", "3")


@pytest.fixture
def seeded():
    call_command("seed_demo", *SEED, "--history-months", "1", "--seed", "5", stdout=StringIO())


@pytest.fixture
def next_key(settings):
    """A new key put first, the old one kept after it: the first step of a rotation."""
    old = list(settings.HUB_DATA_KEYS)
    settings.HUB_DATA_KEYS = [("next", base64.urlsafe_b64decode(new_key())), *old]
    return old


def _stored_key_ids() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_name, phone FROM patients_patient")
        return {key_id_of(v) for row in cursor.fetchall() for v in row if v}


def _rotate(tmp_path, *extra: str) -> str:
    out = StringIO()
    state = str(tmp_path / "rotate.json")
    call_command(
        "rotate_data_keys", "--batch-size", "40", "--state-file", state, *extra, stdout=out
    )
    return out.getvalue()


def test_it_reencrypts_everything_so_the_old_key_can_be_removed(
    seeded, next_key, settings, tmp_path, agent
):
    before = {p.pk: (p.last_name, p.date_of_birth, p.phone) for p in Patient.objects.all()}
    with pytest.raises(CommandError, match="still need rotate_data_keys"):
        _rotate(tmp_path, "--check")

    report = _rotate(tmp_path)

    assert "patients_patient: 40 rows scanned, 40 re-encrypted, at id" in report
    assert "Every encrypted value is now under key next." in report
    assert _stored_key_ids() == {"next"}
    settings.HUB_DATA_KEYS = settings.HUB_DATA_KEYS[:1]  # the old key is gone
    assert "Every encrypted value is under key next." in _rotate(tmp_path, "--check")
    after = {p.pk: (p.last_name, p.date_of_birth, p.phone) for p in Patient.objects.all()}
    assert after == before
    someone = Patient.objects.order_by("pk").first()
    assert someone.pk in [h.id for h in patient_search(query=someone.phone, user=agent)]


def test_an_interrupted_rotation_resumes_where_it_stopped(seeded, next_key, tmp_path, monkeypatch):
    real = rotation_module.reencrypt_batch
    patient_batches = {"n": 0}

    def dies_in_the_second_patient_batch(model, **kwargs):
        if model is Patient:
            patient_batches["n"] += 1
            if patient_batches["n"] == 2:
                raise KeyboardInterrupt  # Ctrl-C, or a deploy stopping the process
        return real(model, **kwargs)

    monkeypatch.setattr(rotation_module, "reencrypt_batch", dies_in_the_second_patient_batch)
    with pytest.raises(KeyboardInterrupt):
        _rotate(tmp_path)
    assert _stored_key_ids() == {"next", next_key[0][0]}, "half done"
    monkeypatch.setattr(rotation_module, "reencrypt_batch", real)

    report = _rotate(tmp_path)

    assert "scheduling_call: done in an earlier run" in report
    first_patient_line = next(line for line in report.splitlines() if "patients_patient:" in line)
    assert "40 rows scanned, 40 re-encrypted" in first_patient_line, "it went on from id 40"
    assert _stored_key_ids() == {"next"}


def test_the_product_keeps_serving_while_keys_rotate(seeded, next_key, tmp_path, agent):
    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    errors: list[BaseException] = []
    done = threading.Event()

    def rotate() -> None:
        try:
            out = StringIO()
            call_command(
                "rotate_data_keys",
                *("--batch-size", "10", "--pause-ms", "20"),
                *("--state-file", str(tmp_path / "rotate.json")),
                stdout=out,
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()
            connections.close_all()

    worker = threading.Thread(target=rotate)
    worker.start()
    served = 0
    written: dict[int, str] = {}
    try:
        while not done.is_set() or served < 20:
            pid = ids[served % len(ids)]
            patient = Patient.objects.get(pk=pid)
            phone = f"719555{served:04d}"
            patient.phone = phone
            patient.save(update_fields=["phone"])
            written[pid] = phone
            hits = patient_search(query=phone, user=agent)
            assert pid in [h.id for h in hits], "a phone saved during rotation is found"
            served += 1
            time.sleep(0.005)
    finally:
        worker.join(60)
    assert not errors, errors
    assert served >= 20
    assert _stored_key_ids() == {"next"}, "writes during the run were under the new key"
    for pid, phone in written.items():
        assert Patient.objects.get(pk=pid).phone == phone, "no write was lost to the rotation"
