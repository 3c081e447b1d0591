"""PostgreSQL: no two active bookings of one room, or of one piece of mobile equipment,
overlap in time, however they were written (the same guarantee 0002 gives appointments).
SQLite relies on the services' row locks and its single writer (BEGIN IMMEDIATE)."""

from django.db import migrations

EXCLUSIONS = [
    (
        "resource_booking_equipment_no_overlap",
        "equipment_id WITH =, tstzrange(start, \"end\", '[)') WITH &&",
        "active AND equipment_id IS NOT NULL",
    ),
    (
        "resource_booking_room_no_overlap",
        "room_id WITH =, tstzrange(start, \"end\", '[)') WITH &&",
        "active AND room_id IS NOT NULL",
    ),
]


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for name, expr, where in EXCLUSIONS:
        schema_editor.execute(
            f"ALTER TABLE scheduling_resourcebooking ADD CONSTRAINT {name} "
            f"EXCLUDE USING gist ({expr}) WHERE ({where})"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in EXCLUSIONS:
        schema_editor.execute(
            f"ALTER TABLE scheduling_resourcebooking DROP CONSTRAINT IF EXISTS {name}"
        )


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0020_multi_resource_visits")]
    operations = [migrations.RunPython(add, remove)]
