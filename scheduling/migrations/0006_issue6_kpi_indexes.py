"""Indexes the KPI pages need.

Raw SQL so that scheduling/models.py, which other branches edit, stays untouched (the
model state does not know these indexes, so makemigrations never tries to drop them).
On PostgreSQL the range scans get covering indexes (INCLUDE): the pages read 100k+ rows
per period and an index-only scan of a narrow index is about twice as fast as visiting
the heap. SQLite has no INCLUDE and gets the plain keys. The lead may renumber this
migration at merge.
"""

from django.db import migrations

# name: (table and key, INCLUDE columns on PostgreSQL)
INDEXES = {
    # First-call resolution probes "another call by this patient, same reason, within 7 days".
    "kpi_call_patient_reason_idx": ("scheduling_call (patient_id, reason, started_at)", ""),
    # Calls per period and day: counts, handle time, the FCR candidates.
    "kpi_call_started_cover": (
        "scheduling_call (started_at)",
        "id, agent_id, patient_id, reason, ended_at, outcome",
    ),
    # Bookings, automation share, wrong-location and mismatch read bookings by creation.
    "kpi_appt_created_cover": (
        "scheduling_appointment (created_at)",
        "id, channel, rescheduled_from_id, location_id, booked_by_id, appointment_type_id, "
        "status, cancel_reason, cancelled_at, patient_id, provider_id, start",
    ),
    # Reschedule/cancel/no-show rates read appointments by start across every location.
    "kpi_appt_start_cover": (
        "scheduling_appointment (start)",
        "id, status, location_id, booked_by_id, appointment_type_id",
    ),
    # Utilization by location, provider and day.
    "kpi_slot_start_cover": ("scheduling_slot (start)", "id, status, location_id, provider_id"),
    # Third next available: per location, free slots in time order, stopping at the third.
    "kpi_slot_location_status_start_idx": ("scheduling_slot (location_id, status, start)", ""),
    # Hold-to-book conversion ranges over holds by creation time.
    "kpi_hold_created_idx": (
        "scheduling_hold (created_at)",
        "id, consumed_at, released_at, expires_at, held_by_id, slot_id",
    ),
}


def create(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    for name, (target, include) in INDEXES.items():
        suffix = f" INCLUDE ({include})" if postgres and include else ""
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}{suffix}")


def drop(apps, schema_editor):
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0005_issue3core_network_version")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
