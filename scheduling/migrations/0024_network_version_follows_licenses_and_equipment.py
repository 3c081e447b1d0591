"""PostgreSQL: provider licenses and portable equipment change the network's version too.

Slot search keeps each state's licenses and each portable equipment's locations in the
network snapshot's memo, which lives as long as the version; the same statement-level
trigger as the network's other tables (migration 0005) makes any write to these rows,
however made, move the version, so the next search reads them afresh.
"""

from django.db import migrations

TABLES = [
    "scheduling_providerlicense",
    "scheduling_mobileequipment",
    "scheduling_mobileequipment_serves",
]


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table[:40]}_netver AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION scheduling_network_version_bump()"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table[:40]}_netver ON {table}")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0023_network_version_follows_participation")]
    operations = [migrations.RunPython(add, remove)]
