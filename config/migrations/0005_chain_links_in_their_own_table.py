"""The chain moves out of the audit entries into narrow link rows of its own.

Sealing inserted a link's three values into the wide entry row with an UPDATE; it now
inserts an ``AuditLink`` instead, and a trigger marks each new entry pending for the
sealer. Existing chain positions are copied over unchanged (the hashes cover ``seq``
and the content, not where they are stored), so the chain verifies the same afterwards.
The append-only triggers list the entry table's columns: they are lifted for this
migration and installed again for the new layout, covering the link table too.
"""

from __future__ import annotations

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from config.audit_triggers import drop_sql, install_sql


def lift_entry_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in drop_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


def install_entry_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in install_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


def install_all(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in install_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


def drop_all(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in drop_sql(schema_editor.connection.vendor):
        schema_editor.execute(statement)


def copy_links(apps, schema_editor):  # type: ignore[no-untyped-def]
    schema_editor.execute(
        "INSERT INTO config_auditlink (entry_id, seq, prev_hash, entry_hash) "
        "SELECT id, seq, prev_hash, entry_hash FROM config_auditentry WHERE seq IS NOT NULL"
    )
    schema_editor.execute(
        "INSERT INTO config_auditpending (entry_id) "
        "SELECT id FROM config_auditentry WHERE seq IS NULL"
    )


def copy_links_back(apps, schema_editor):  # type: ignore[no-untyped-def]
    for column in ("seq", "prev_hash", "entry_hash"):
        schema_editor.execute(
            f"UPDATE config_auditentry SET {column} = (SELECT l.{column} "  # noqa: S608
            "FROM config_auditlink l WHERE l.entry_id = config_auditentry.id) "
            "WHERE id IN (SELECT entry_id FROM config_auditlink)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0004_encrypt_audit_change_diffs"),
    ]

    operations = [
        migrations.RunPython(lift_entry_triggers, install_entry_triggers),
        migrations.CreateModel(
            name="AuditLink",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="link",
                        serialize=False,
                        to=settings.AUDITLOG_LOGENTRY_MODEL,
                    ),
                ),
                ("seq", models.BigIntegerField(unique=True)),
                ("prev_hash", models.CharField(max_length=64)),
                ("entry_hash", models.CharField(max_length=64)),
            ],
        ),
        migrations.CreateModel(
            name="AuditPending",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="pending",
                        serialize=False,
                        to=settings.AUDITLOG_LOGENTRY_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(copy_links, copy_links_back),
        migrations.RemoveIndex(
            model_name="auditentry",
            name="auditentry_unsealed",
        ),
        migrations.RemoveField(
            model_name="auditentry",
            name="entry_hash",
        ),
        migrations.RemoveField(
            model_name="auditentry",
            name="prev_hash",
        ),
        migrations.RemoveField(
            model_name="auditentry",
            name="seq",
        ),
        migrations.RunPython(install_all, drop_all),
    ]
