"""Indexes the KPI pages need (issue 6). Plain SQL so that scheduling/models.py, which other
branches edit, stays untouched; CREATE INDEX IF NOT EXISTS reads the same on PostgreSQL and
SQLite. The lead may renumber this migration at merge."""

from django.db import migrations

INDEXES = {
    # First-call resolution probes "another call by this patient, same reason, within 7 days".
    "kpi_call_patient_reason_idx": "scheduling_call (patient_id, reason, started_at)",
    # Reschedule/cancel/no-show rates range-scan appointments by start across every location.
    "kpi_appt_start_idx": "scheduling_appointment (start)",
    # Third next available: per location, free slots in time order, stopping at the third.
    "kpi_slot_location_status_start_idx": "scheduling_slot (location_id, status, start)",
    # Hold-to-book conversion ranges over holds by creation time.
    "kpi_hold_created_idx": "scheduling_hold (created_at)",
}


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0002_postgres_exclusion_constraints")]

    operations = [
        migrations.RunSQL(
            f"CREATE INDEX IF NOT EXISTS {name} ON {target}",
            reverse_sql=f"DROP INDEX IF EXISTS {name}",
        )
        for name, target in INDEXES.items()
    ]
