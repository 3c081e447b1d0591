"""Triggers that refuse UPDATE and DELETE (and TRUNCATE) on audit entries."""

from __future__ import annotations

from django.db import migrations

from config.audit_triggers import drop_sql, install_sql


def install(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in install_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    for statement in drop_sql(schema_editor.connection.vendor, chain_table=False):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("config", "0002_move_auditlog_entries_into_chain")]

    operations = [migrations.RunPython(install, drop)]
