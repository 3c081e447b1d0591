"""PostgreSQL: a plan's network changes the network's version too.

Slot search and booking keep each plan's in-network locations and providers with that
version (``loading.search_rows``) and let the server leave them out of the patient-facts
statement while it is unchanged; the same statement-level trigger as the network's own
tables (migration 0005) makes any write to the participation rows, however made, move
the version, so the next read returns them afresh.
"""

from django.db import migrations

TABLE = "billing_networkparticipation"


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE TRIGGER {TABLE}_netver AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
        f"ON {TABLE} FOR EACH STATEMENT EXECUTE FUNCTION scheduling_network_version_bump()"
    )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_netver ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_eligibility_check_batch_run"),
        ("scheduling", "0022_appointment_series"),
    ]
    operations = [migrations.RunPython(add, remove)]
