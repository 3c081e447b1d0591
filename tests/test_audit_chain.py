"""The audit log is append-only in the database and its hash chain exposes tampering.

The tamper cases work as an attacker with SQL access would: straight SQL, and, where the
trigger stands in the way, dropping it first as a superuser can.
"""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest
from auditlog.context import set_actor
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from config import audit_triggers
from config.audit import audit_access
from config.audit_chain import (
    GENESIS,
    HASHED_FIELDS,
    audit_pending,
    audit_seal,
    chain_verify,
    entry_hash,
)
from config.models import AuditEntry, AuditLink, AuditLogIsAppendOnly, AuditVerification
from tests import factories as f

pytestmark = pytest.mark.django_db

TABLE = audit_triggers.TABLE
LINKS = audit_triggers.LINK_TABLE


def _entries(actor, count: int = 5) -> list[AuditEntry]:
    patients = [f.patient() for _ in range(count)]
    audit_access(actor=actor, instances=patients)
    # The test's transaction never commits, so the seal that follows a commit is run here.
    audit_seal()
    entries = list(AuditEntry.objects.select_related("link").order_by("link__seq"))
    for entry in entries:
        entry.seq, entry.prev_hash, entry.entry_hash = (
            entry.link.seq,
            entry.link.prev_hash,
            entry.link.entry_hash,
        )
    return entries


def _copy_entry(entry_id: int) -> int:
    """Insert a copy of an entry in SQL, as an attacker would; returns its id."""
    _sql(
        f"INSERT INTO {TABLE} (content_type_id, object_pk, object_id, object_repr, action, "
        "changes_text, timestamp, actor_username, actor_role, surface) "
        "SELECT content_type_id, object_pk, object_id, object_repr, action, changes_text, "
        f"timestamp, 'nobody', '', surface FROM {TABLE} WHERE id = %s",
        [entry_id],
    )
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or [])


def _drop_triggers() -> None:
    for statement in audit_triggers.drop_sql(connection.vendor):
        _sql(statement)


def _verify_fails() -> str:
    with pytest.raises(CommandError) as failed:
        call_command("audit_verify")
    return str(failed.value)


def test_it_links_every_entry_to_its_predecessor(agent):
    entries = _entries(agent)

    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert entries[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash
    assert chain_verify().intact


def test_it_keeps_the_actor_username_and_role_and_no_patient_name(agent):
    patient = f.patient()
    audit_access(actor=agent, instances=[patient])

    entry = AuditEntry.objects.get(action=AuditEntry.Action.ACCESS)
    assert (entry.actor_username, entry.actor_role) == ("agent.test", "agent")
    assert entry.object_repr == f"Patient #{patient.pk}"
    assert patient.last_name not in entry.object_repr


def test_it_prints_the_head_and_exits_zero_when_intact(agent, capsys):
    entries = _entries(agent, 3)

    call_command("audit_verify")

    out = capsys.readouterr().out
    assert f"intact: {len(entries)} entries" in out and entries[-1].entry_hash in out
    assert AuditVerification.objects.get().intact


def test_the_database_refuses_an_update_in_sql(agent):
    entry = _entries(agent, 2)[0]

    with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
        _sql(f"UPDATE {TABLE} SET changes_text = 'tampered' WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.get(pk=entry.pk).changes_text == ""


def test_the_database_refuses_a_delete_in_sql(agent):
    entry = _entries(agent, 2)[0]

    with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
        _sql(f"DELETE FROM {TABLE} WHERE id = %s", [entry.pk])

    assert AuditEntry.objects.filter(pk=entry.pk).exists()


def test_the_database_refuses_changing_or_removing_a_chain_link(agent):
    entry = _entries(agent, 2)[0]

    with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
        _sql(f"UPDATE {LINKS} SET entry_hash = %s WHERE entry_id = %s", ["f" * 64, entry.pk])
    with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
        _sql(f"DELETE FROM {LINKS} WHERE entry_id = %s", [entry.pk])

    assert AuditLink.objects.get(entry_id=entry.pk).entry_hash == entry.entry_hash


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no TRUNCATE")
def test_the_database_refuses_a_truncate(agent):
    count = len(_entries(agent, 2))
    _sql("SET CONSTRAINTS ALL IMMEDIATE")  # TRUNCATE waits for no deferred checks

    for table in (TABLE, LINKS):
        with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
            _sql(f"TRUNCATE {table}")

    assert AuditEntry.objects.count() == AuditLink.objects.count() == count


def test_the_orm_refuses_update_and_delete(agent):
    entry = _entries(agent, 1)[0]

    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).update(changes_text="tampered")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(AuditLogIsAppendOnly):
        entry.save()


def test_it_names_the_entry_altered_behind_a_dropped_trigger(agent):
    entries = _entries(agent)
    target = entries[2]
    _drop_triggers()

    _sql(f"UPDATE {TABLE} SET changes_text = 'tampered' WHERE id = %s", [target.pk])

    problem = _verify_fails()
    assert f"entry seq {target.seq} (id {target.pk}) was altered" in problem
    assert AuditVerification.objects.get().broken_entry_id == target.pk


def test_it_names_the_entry_altered_and_rehashed(agent):
    entries = _entries(agent)
    target = entries[1]
    _drop_triggers()
    row = {name: getattr(target, name) for name in HASHED_FIELDS}
    row["object_pk"] = "999999"
    forged = entry_hash(target.prev_hash, row)

    _sql(f"UPDATE {TABLE} SET object_pk = '999999' WHERE id = %s", [target.pk])
    _sql(f"UPDATE {LINKS} SET entry_hash = %s WHERE entry_id = %s", [forged, target.pk])

    problem = _verify_fails()
    assert f"does not follow entry seq {target.seq}" in problem


def test_it_names_the_entry_removed_behind_a_dropped_trigger(agent):
    entries = _entries(agent)
    target = entries[3]
    _drop_triggers()

    _sql(f"DELETE FROM {TABLE} WHERE id = %s", [target.pk])

    problem = _verify_fails()
    assert f"entry seq {target.seq} is missing" in problem


def test_it_names_an_entry_inserted_in_sql(agent):
    entries = _entries(agent)
    last = entries[-1]

    inserted = _copy_entry(last.pk)
    _sql(
        f"INSERT INTO {LINKS} (entry_id, seq, prev_hash, entry_hash) VALUES (%s, %s, %s, %s)",
        [inserted, last.seq + 1, last.entry_hash, "f" * 64],
    )

    problem = _verify_fails()
    assert f"entry seq {last.seq + 1} (id {inserted}) was altered" in problem


def test_it_names_an_entry_inserted_out_of_order(agent):
    entries = _entries(agent)
    _drop_triggers()
    # Make room in the middle, as an attacker must: the sequence is unique.
    _sql(f"UPDATE {LINKS} SET seq = seq + 100 WHERE seq > 2")
    inserted = _copy_entry(entries[1].pk)
    _sql(
        f"INSERT INTO {LINKS} (entry_id, seq, prev_hash, entry_hash) VALUES (%s, 3, %s, %s)",
        [inserted, entries[1].entry_hash, entries[1].entry_hash],
    )

    problem = _verify_fails()
    assert f"entry seq 3 (id {inserted}) was altered" in problem


def test_it_names_an_entry_kept_out_of_the_chain(agent):
    entries = _entries(agent, 2)
    stray = _copy_entry(entries[0].pk)
    # The insert marked it pending; an attacker who removes the mark before the seal
    # keeps it out of the chain, which verification reports.
    _sql(f"DELETE FROM {audit_triggers.PENDING_TABLE} WHERE entry_id = %s", [stray])

    problem = _verify_fails()
    assert f"entry id {stray} is outside the chain" in problem


def test_deleting_a_user_keeps_who_did_it_and_the_chain(agent):
    patient = f.patient()
    with set_actor(agent):
        patient.phone = "3035550199"
        patient.save()
    agent_pk = agent.pk

    audit_seal()
    User.objects.filter(pk=agent_pk).delete()

    entry = AuditEntry.objects.get(action=AuditEntry.Action.UPDATE)
    assert entry.actor_id is None and entry.actor_username == "agent.test"
    assert chain_verify().intact


def test_the_nightly_task_records_a_break_that_integration_health_shows(client, ops_manager, agent):
    from config.tasks import audit_verify_task

    target = _entries(agent, 3)[1]
    client.force_login(ops_manager)
    audit_verify_task()
    assert b"Audit chain intact" in client.get("/integrations/health/").content
    _drop_triggers()
    _sql(f"UPDATE {TABLE} SET surface = 'moved' WHERE id = %s", [target.pk])

    audit_verify_task()

    page = client.get("/integrations/health/").content.decode()
    assert "Audit chain broken" in page and f"(id {target.pk}) was altered" in page


def test_the_archive_file_verifies_on_its_own_and_the_checkpoint_anchors_the_rest(agent, tmp_path):
    from config.audit_archive import audit_archive
    from config.models import AuditCheckpoint

    entries = _entries(agent, 4)
    cut = entries[2]
    kept = AuditLink.objects.filter(seq__gt=cut.seq).count()

    checkpoint = audit_archive(before=entries[3].timestamp, out_dir=tmp_path)

    assert checkpoint.seq == cut.seq
    assert AuditEntry.objects.count() == AuditLink.objects.count() == kept
    lines = [json.loads(x) for x in (tmp_path / checkpoint.archive_name).read_text().splitlines()]
    prev = GENESIS
    for line in lines:
        assert line["prev_hash"] == prev
        prev = hashlib.sha256(f"{prev}\n{line['content']}".encode()).hexdigest()
        assert prev == line["entry_hash"]
    assert prev == checkpoint.entry_hash
    assert chain_verify().intact
    # A forged checkpoint (moved past a removed entry) fails its signature.
    _sql("UPDATE config_auditcheckpoint SET seq = seq + 1")
    assert not chain_verify().intact
    assert AuditCheckpoint.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles are PostgreSQL's")
def test_the_least_privilege_role_can_append_and_nothing_more(agent):
    # The README's grants, applied to a throwaway role inside the test's transaction
    # (rolled back with it, so nothing is left on the shared server).
    role = f"carehub_app_test_{connection.settings_dict['NAME']}"[:60]
    for statement in [
        f"CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE}, {LINKS}, config_auditcheckpoint FROM {role}",
        f"GRANT UPDATE (actor_id) ON {TABLE} TO {role}",
        f"SET LOCAL ROLE {role}",
    ]:
        _sql(statement)

    entry = _entries(agent, 1)[-1]
    refused = [
        f"UPDATE {TABLE} SET changes_text = 'x' WHERE id = {entry.pk}",
        f"DELETE FROM {TABLE} WHERE id = {entry.pk}",
        f"TRUNCATE {TABLE}",
        f"UPDATE {LINKS} SET prev_hash = entry_hash WHERE entry_id = {entry.pk}",
        f"DELETE FROM {LINKS} WHERE entry_id = {entry.pk}",
        f"DROP TRIGGER config_auditentry_no_update_delete ON {TABLE}",
        f"DROP TRIGGER config_auditlink_no_update_delete ON {LINKS}",
        f"UPDATE {TABLE} SET actor_id = {entry.actor_id + 1} WHERE id = {entry.pk}",
    ]
    for statement in refused:
        with pytest.raises(DatabaseError), transaction.atomic():
            _sql(statement)
    audit_access(actor=agent, instances=[f.patient()])
    assert audit_seal() > 0  # the role can seal what it wrote
    _sql("RESET ROLE")

    assert chain_verify().intact


def test_entries_wait_unsealed_and_immutable_until_sealed(agent):
    patient = f.patient()
    audit_access(actor=agent, instances=[patient])
    pending = AuditEntry.objects.filter(link__isnull=True).order_by("id").last()

    with pytest.raises(DatabaseError, match=audit_triggers.REFUSED), transaction.atomic():
        _sql(f"UPDATE {TABLE} SET object_pk = '1' WHERE id = %s", [pending.pk])

    assert audit_pending() > 0
    call_command("audit_verify")  # seals what is pending, then verifies
    assert audit_pending() == 0
    assert AuditLink.objects.filter(entry_id=pending.pk).exists()
