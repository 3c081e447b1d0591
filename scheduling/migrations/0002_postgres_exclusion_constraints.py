"""PostgreSQL-only guarantees on top of the portable ones.

The partial unique index on AppointmentSlot(slot) where active is the double-booking
guarantee that works everywhere (SQLite included). On PostgreSQL we also exclude
overlapping active appointments for the same provider or the same room by time range,
which catches bookings that bypass the slot grid (front-desk SIU, FHIR create).
"""

from django.db import migrations

EXCLUSIONS = [
    (
        "appointment_provider_no_overlap",
        "provider_id WITH =, tstzrange(start, \"end\", '[)') WITH &&",
        "status IN ('booked', 'arrived')",
    ),
    (
        "appointment_room_no_overlap",
        "room_id WITH =, tstzrange(start, \"end\", '[)') WITH &&",
        "status IN ('booked', 'arrived') AND room_id IS NOT NULL",
    ),
]


def add(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    for name, expr, where in EXCLUSIONS:
        schema_editor.execute(
            f"ALTER TABLE scheduling_appointment ADD CONSTRAINT {name} "
            f"EXCLUDE USING gist ({expr}) WHERE ({where})"
        )


def remove(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _, _ in EXCLUSIONS:
        schema_editor.execute(f"ALTER TABLE scheduling_appointment DROP CONSTRAINT IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]
    operations = [migrations.RunPython(add, remove)]
