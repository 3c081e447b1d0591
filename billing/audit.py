"""Audit trail for billing rows, including the ones written in bulk.

Single-row saves are logged by django-auditlog's signals. The batch paths (271 answers,
scrubber and submission status moves, a nightly batch's new checks, an encounter's
diagnoses and charges) write with ``bulk_create``, queryset ``update`` or executemany,
which send no signals; they call ``audit_updates`` / ``audit_creates`` here, which write
the same ``LogEntry`` rows auditlog would (content type, object pk, action, a
``{field: [old, new]}`` diff in auditlog's text form, the correlation id, and the actor
and remote address when a request or ``auditlog.context.set_actor`` set them), in one
executemany per batch so the benchmarks keep their budget.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.db.models.signals import pre_save
from django.utils import timezone
from django.utils.encoding import smart_str

from .fastsql import insert_rows
from .models import Charge, Claim, Diagnosis, EligibilityCheck, Encounter, RemittanceClaim

auditlog.register(EligibilityCheck)
auditlog.register(Encounter)
auditlog.register(Diagnosis)
auditlog.register(Charge)
auditlog.register(Claim)
auditlog.register(RemittanceClaim)

# (pk, object repr, {field name: (old, new)})
Change = tuple[int, str, Mapping[str, tuple[Any, Any]]]

_COLUMNS = [
    "content_type",
    "object_pk",
    "object_id",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "cid",
    "actor",
    "actor_email",
    "remote_addr",
    "remote_port",
    "timestamp",
]


def _text(value: Any) -> str:
    """A value as auditlog's diff stores it (naive UTC datetimes, sorted JSON, str)."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.make_naive(value, UTC)
        return str(value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, cls=DjangoJSONEncoder)
    return smart_str(value)


def _write(model: type[Model], action: int, changes: Iterable[Change]) -> int:
    if auditlog_disabled.get():
        return 0
    # Ask auditlog's own context receiver (connected only inside set_actor / the
    # middleware) to fill in actor and remote address, as it does before each save.
    proto = LogEntry()
    pre_save.send(sender=LogEntry, instance=proto, raw=False, using=None, update_fields=None)
    ct_id = ContentType.objects.get_for_model(model).pk
    cid, now = get_cid(), timezone.now()
    rows = []
    for pk, repr_, fields in changes:
        diff = {name: [_text(old), _text(new)] for name, (old, new) in fields.items()}
        diff = {name: pair for name, pair in diff.items() if pair[0] != pair[1]}
        if not diff:
            continue
        rows.append(
            (
                ct_id,
                str(pk),
                pk,
                repr_,
                action,
                diff,
                "",
                cid,
                proto.actor_id,
                proto.actor_email,
                proto.remote_addr,
                proto.remote_port,
                now,
            )
        )
    insert_rows(LogEntry, _COLUMNS, rows)
    return len(rows)


def audit_updates(model: type[Model], changes: Iterable[Change]) -> int:
    """Log one UPDATE entry per row whose listed fields really changed; returns the count."""
    return _write(model, LogEntry.Action.UPDATE, changes)


def audit_creates(objs: Iterable[Model]) -> int:
    """Log CREATE entries for rows written with ``bulk_create`` (their pks set)."""
    objs = list(objs)
    if not objs:
        return 0
    model = type(objs[0])
    fields = list(model._meta.concrete_fields)
    return _write(
        model,
        LogEntry.Action.CREATE,
        (
            (
                obj.pk,
                str(obj),
                {
                    f.name: (None, getattr(obj, f.attname))
                    for f in fields
                    if getattr(obj, f.attname) is not None
                },
            )
            for obj in objs
        ),
    )
