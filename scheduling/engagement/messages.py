"""Writing ``PatientMessage`` rows and announcing them: integrations writes the outbox
rows in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, transaction

from config.fastsql import insert_rows

from .. import signals
from ..models import PatientMessage

# Above this many rows, PostgreSQL takes them as one executemany with ids drawn from the
# sequence beforehand: the reminder run's 50,000 rows spent most of their time in
# bulk_create's field-by-field preparation.
FAST_PATH_ROWS = 500
COLUMNS = tuple(f.name for f in PatientMessage._meta.concrete_fields)
ATTNAMES = tuple(f.attname for f in PatientMessage._meta.concrete_fields)


def _draw_ids(count: int) -> list[int]:
    table = PatientMessage._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def patient_messages_queue(*, messages: Sequence[PatientMessage]) -> list[PatientMessage]:
    """Save unsaved messages in one batch and announce them. Atomic."""
    if not messages:
        return []
    rows = list(messages)
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(rows) >= FAST_PATH_ROWS:
            for message, pk in zip(rows, _draw_ids(len(rows)), strict=True):
                message.pk = pk
            insert_rows(
                PatientMessage,
                COLUMNS,
                ([getattr(m, a) for a in ATTNAMES] for m in rows),
            )
            for message in rows:
                message._state.adding = False
            saved = rows
        else:
            saved = PatientMessage.objects.bulk_create(rows, batch_size=2000)
        signals.patient_messages_queued.send(sender=PatientMessage, messages=saved)
    return saved
