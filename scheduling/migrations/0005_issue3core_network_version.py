"""PostgreSQL: one row whose version changes with every write to the network's tables.

Slot search keeps the network's facts (locations, rooms, providers, rules, visit types)
between searches and must notice any change at once, however it was made (admin,
.update(), bulk_create, raw SQL, another process). A statement-level trigger on each of
those tables sets the version from a sequence; sequences never roll back, so a value is
never reused even when the transaction that wrote it rolls back, and reading one row is
all a search pays. Other databases have no row; there the facts are rebuilt each search.
"""

from django.db import migrations

TABLES = [
    "scheduling_location",
    "scheduling_location_equipment",
    "scheduling_room",
    "scheduling_room_equipment",
    "scheduling_locationhours",
    "scheduling_provider",
    "scheduling_provider_capabilities",
    "scheduling_provider_locations",
    "scheduling_equipment",
    "scheduling_capability",
    "scheduling_rulesetting",
    "scheduling_appointmenttype",
    "scheduling_appointmenttype_required_capabilities",
    "scheduling_appointmenttype_required_equipment",
]


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    execute = schema_editor.execute
    execute("CREATE SEQUENCE IF NOT EXISTS scheduling_network_version_seq")
    execute(
        "CREATE TABLE IF NOT EXISTS scheduling_network_version "
        "(id smallint PRIMARY KEY CHECK (id = 1), version bigint NOT NULL)"
    )
    execute(
        "INSERT INTO scheduling_network_version (id, version) "
        "VALUES (1, nextval('scheduling_network_version_seq')) ON CONFLICT (id) DO NOTHING"
    )
    execute(
        """
        CREATE OR REPLACE FUNCTION scheduling_network_version_bump() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE scheduling_network_version
               SET version = nextval('scheduling_network_version_seq') WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in TABLES:
        execute(
            f"CREATE TRIGGER {table[:40]}_netver AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION scheduling_network_version_bump()"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table[:40]}_netver ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS scheduling_network_version_bump()")
    schema_editor.execute("DROP TABLE IF EXISTS scheduling_network_version")
    schema_editor.execute("DROP SEQUENCE IF EXISTS scheduling_network_version_seq")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0004_issue3core_slot_free_pair_index")]
    operations = [migrations.RunPython(add, remove)]
