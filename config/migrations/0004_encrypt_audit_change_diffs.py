"""Encrypt the audit entries' change diffs, the one column of an entry that holds PHI.

The append-only triggers list the table's columns and refuse the in-place encryption of
rows written before, so they are lifted for this migration only and installed again.
The chain hashes decrypted diffs, so it verifies the same afterwards.
"""

from __future__ import annotations

from django.db import migrations

import config.crypto.fields
from config.audit_triggers import drop_sql, install_sql
from config.crypto.rotation import reencrypt_model


def lift(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in drop_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in install_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


def encrypt_existing(apps, schema_editor):  # type: ignore[no-untyped-def]
    reencrypt_model(apps.get_model("config", "AuditEntry"))


class Migration(migrations.Migration):
    dependencies = [("config", "0003_audit_entries_append_only")]

    operations = [
        migrations.RunPython(lift, install),
        migrations.AlterField(
            model_name="auditentry",
            name="changes",
            field=config.crypto.fields.EncryptedJSONField(blank=True, null=True),
        ),
        migrations.RunPython(encrypt_existing, migrations.RunPython.noop),
        migrations.RunPython(install, lift),
    ]
