"""The one writer of audit entries that django-auditlog's signals do not write.

Single-row saves are logged by auditlog's own receivers. Rows written set-based
(``bulk_create``, queryset ``update``, executemany) send no model signals, and an access
(a page or export that showed PHI) changes no row at all; the entries for those are
written here, with what auditlog would have written: content type, object pk and repr,
action, diff, correlation id, and the actor and remote address that a request or
``auditlog.context.set_actor`` set, filled in by auditlog's own context receiver on
LogEntry's pre_save, which every path here sends as ``save()`` would.

Two diff styles live here on purpose. ``log_entry_for`` / ``log_creates`` build
auditlog's own ``model_instance_diff`` from instances (the booking and merge batches,
whose entries must read exactly like a single save's). ``audit_updates`` /
``audit_creates`` take plain ``{field: (old, new)}`` pairs and write auditlog's text form
with one executemany per batch: billing's batches move 10,000 claims a run, where
building instances and diffing them field by field would break the benchmarks' budget.
Tests assert on both forms (a create's foreign key is its id in one, the related
object's repr in the other), so they are not merged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any

from auditlog.cid import get_cid
from auditlog.context import auditlog_disabled, auditlog_value
from auditlog.diff import (
    get_field_value,
    get_fields_in_model,
    get_mask_function,
    is_primitive,
    model_instance_diff,
)
from auditlog.registry import auditlog
from auditlog.signals import post_log, pre_log
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import router
from django.db.models import Model
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from django.utils.encoding import smart_str

from config.audit_seal import entries_prepare, seal_after_commit
from config.fastsql import insert_rows
from config.models import AuditEntry as LogEntry

# (pk, object repr, {field name: (old, new)})
Change = tuple[int, str, Mapping[str, tuple[Any, Any]]]

# --- auditlog's own diff, for batches of instances ---------------------------------------


def bulk_audit_possible() -> bool:
    """The batch paths may write LogEntry rows themselves only while nobody hooks
    auditlog's own signals or a LogEntry's post_save (bulk_create sends neither)."""
    if auditlog_disabled.get():
        return False  # the signals would write nothing; the careful path does the same
    return not (pre_log.receivers or post_log.receivers or post_save.has_listeners(LogEntry))


class CreateDiffs:
    """``model_instance_diff(None, instance)`` for new rows (a batch's, and through
    ``config.audit_creates`` every single save's), with what is the
    same for every row of a model worked out once: the fields it checks (the model's
    fields less the registration's exclusions) and the "before" side, which auditlog
    reads off None (an exception per field and row). Per row only the new values are
    read, with auditlog's own ``get_field_value``; the result is the dict
    ``model_instance_diff`` returns, key for key."""

    def __init__(self, *, json: bool | None = None) -> None:
        if json is None:
            json = getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False)
        self.json = json
        # Per model: the registration the plan was made from, and the plan.
        self._plans: dict[type[Model], tuple[Any, list[tuple[Any, Any, Any]]]] = {}

    def _plan(self, instance: Model) -> list[tuple[Any, Any, Any]]:
        model = instance._meta.model
        # Asked every time, as model_instance_diff asks: a model registered again with
        # other fields gets a new plan (config.audit_creates keeps one for the process).
        registered = auditlog.get_model_fields(model)
        known = self._plans.get(model)
        if known is not None and known[0] == registered:
            return known[1]
        fields = [
            f
            for f in set(get_fields_in_model(instance))
            if (not registered["include_fields"] or f.name in registered["include_fields"])
            and f.name not in registered["exclude_fields"]
        ]
        mask = get_mask_function(registered.get("mask_callable"))
        plan = [
            (
                field,
                get_field_value(None, field, self.json),
                mask if field.name in registered["mask_fields"] else None,
            )
            for field in fields
        ]
        self._plans[model] = (registered, plan)
        return plan

    def __call__(self, instance: Model) -> dict[str, Any] | None:
        diff: dict[str, Any] = {}
        for field, old, mask in self._plan(instance):
            new = get_field_value(instance, field, self.json)
            if old == new:
                continue
            if mask is not None:
                diff[field.name] = (mask(smart_str(old)), mask(smart_str(new)))
            elif not self.json:
                diff[field.name] = (smart_str(old), smart_str(new))
            else:
                diff[field.name] = (
                    old if is_primitive(old) else smart_str(old),
                    new if is_primitive(new) else smart_str(new),
                )
        return diff or None


def log_entry_for(
    instance: Any,
    action: int,
    old: Any,
    fields: list[str] | None = None,
    *,
    creates: CreateDiffs | None = None,
) -> LogEntry | None:
    """The LogEntry auditlog's receiver would write for this save (None: nothing changed).
    A batch writing many new rows passes one ``CreateDiffs`` for their diffs."""
    if creates is not None and old is None and not fields:
        changes = creates(instance)
    else:
        changes = model_instance_diff(
            old,
            instance,
            fields_to_check=fields,
            use_json_for_changes=getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False),
        )
    if not changes:
        return None
    return LogEntry(
        action=action,
        changes=changes,
        content_type=ContentType.objects.get_for_model(instance),
        object_pk=smart_str(instance.pk),
        object_id=instance.pk,
        object_repr=smart_str(instance),
        serialized_data=LogEntry.objects._get_serialized_data_or_none(instance),
        cid=get_cid(),
    )


def log_entries_write(entries: Iterable[LogEntry | None]) -> None:
    """Insert the entries in one statement, after the pre_save that ``save()`` sends."""
    written = [e for e in entries if e is not None]
    using = router.db_for_write(LogEntry)
    if pre_save.has_listeners(LogEntry):
        # What save() would send: auditlog's set_actor fills in the actor here.
        for entry in written:
            pre_save.send(LogEntry, instance=entry, raw=False, using=using, update_fields=None)
    if not written:
        return
    # What the entries' bulk_create does (config.models), through the plain executemany:
    # a search audits every patient it lists, and bulk_create's per-field preparation of
    # a few dozen entries cost more than the search's own reads.
    entries_prepare(written, using=using)
    names, attnames = _entry_fields()
    insert_rows(LogEntry, names, ([getattr(e, a) for a in attnames] for e in written))
    seal_after_commit(using)


@cache
def _entry_fields() -> tuple[list[str], list[str]]:
    """Every field of an entry but its id: names, and the attributes holding the values."""
    fields = [f for f in LogEntry._meta.concrete_fields if not f.primary_key]
    return [f.name for f in fields], [f.attname for f in fields]


@contextmanager
def nothing_points_at(instances: list[Any]) -> Iterator[None]:
    """While rows written this instant are diffed for their CREATE entry, answer their
    reverse one-to-one accessors (an appointment's encounter, say) with None.

    auditlog's create diff reads every such accessor, one SELECT each, to log "None". A
    row written this instant has nothing pointing at it yet, so the answer is known: it
    is cached for the diff, then forgotten so later readers still ask the database."""
    if not instances:
        yield
        return
    reverse = [
        f.cache_name
        for f in instances[0]._meta.get_fields()
        if f.one_to_one and f.auto_created and not f.concrete
    ]
    primed = []
    for obj in instances:
        cache = obj._state.fields_cache
        names = [name for name in reverse if name not in cache]
        cache.update(dict.fromkeys(names))
        primed.append(names)
    try:
        yield
    finally:
        for obj, names in zip(instances, primed, strict=True):
            for name in names:
                obj._state.fields_cache.pop(name, None)


def log_creates(instances: list[Any]) -> None:
    """CREATE entries for rows just written with bulk_create (their pks set)."""
    if not instances:
        return
    creates = CreateDiffs()
    with nothing_points_at(instances):
        entries = [
            log_entry_for(obj, LogEntry.Action.CREATE, None, creates=creates) for obj in instances
        ]
    log_entries_write(entries)


# --- text diffs from (old, new) pairs, one executemany per batch ---------------------------

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
    "actor_username",
    "actor_role",
    "surface",
]


_ATTRS = [f"{c}_id" if c in ("content_type", "actor") else c for c in _COLUMNS]


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
    diffs = []
    for pk, _repr, fields in changes:
        diff = {name: [_text(old), _text(new)] for name, (old, new) in fields.items()}
        diff = {name: pair for name, pair in diff.items() if pair[0] != pair[1]}
        if diff:
            diffs.append((pk, diff))
    if not diffs:
        return 0  # nothing changed (a booking that answered no referral): nothing to write
    # Ask auditlog's own context receiver (connected only inside set_actor / the
    # middleware) to fill in actor and remote address, as it does before each save.
    proto = LogEntry()
    pre_save.send(sender=LogEntry, instance=proto, raw=False, using=None, update_fields=None)
    ct_id = ContentType.objects.get_for_model(model).pk
    cid, now = get_cid(), timezone.now()
    entries = []
    for pk, diff in diffs:
        entries.append(
            LogEntry(
                content_type_id=ct_id,
                object_pk=str(pk),
                object_id=pk,
                action=action,
                changes=diff,
                changes_text="",
                cid=cid,
                actor_id=proto.actor_id,
                actor_email=proto.actor_email,
                remote_addr=proto.remote_addr,
                remote_port=proto.remote_port,
                timestamp=now,
            )
        )
    if proto.actor_id is not None:
        for entry in entries:
            entry.actor = proto.actor
    using = router.db_for_write(LogEntry)
    entries_prepare(entries, using=using)
    insert_rows(LogEntry, _COLUMNS, ([getattr(e, c) for c in _ATTRS] for e in entries))
    seal_after_commit(using)
    return len(entries)


def audit_updates(model: type[Model], changes: Iterable[Change]) -> int:
    """Log one UPDATE entry per row whose listed fields really changed; returns the count."""
    return _write(model, LogEntry.Action.UPDATE, changes)


def audit_set(model: type[Model], pks: Iterable[int], field: str, old: Any, new: Any) -> int:
    """UPDATE entries for rows a queryset ``update()`` set ``field`` on, from ``old`` to
    ``new`` (a merge moving rows to the survivor); call it in the same transaction."""
    return _write(model, LogEntry.Action.UPDATE, ((pk, "", {field: (old, new)}) for pk in pks))


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


# --- who: the actor of a request's entries ----------------------------------------------


def audit_actor_set(user: Any) -> None:
    """Name ``user`` as the actor of the entries the rest of this request writes.

    auditlog's middleware takes the actor from the signed-in session as the request comes
    in; a bearer token is only checked later, by the API view, so without this a token's
    writes were logged with no actor. A request's context is its own dictionary, which
    auditlog's receiver reads when each entry is saved."""
    try:
        context = auditlog_value.get()
    except LookupError:
        return  # no request context (a worker, a command): nothing to name
    if context.get("actor") is None:
        context["actor"] = user


# --- ACCESS: PHI was shown or exported -----------------------------------------------------


def _access_entry(instance: Model, actor: Any, additional_data: Any, surface: str) -> LogEntry:
    """The row ``LogEntry.objects.log_create(instance, force_log=True, action=ACCESS,
    actor=actor)`` would write, field for field."""
    pk = LogEntry.objects._get_pk_value(instance)
    if additional_data is None:
        get_additional_data = getattr(instance, "get_additional_data", None)
        if callable(get_additional_data):
            additional_data = get_additional_data()
    return LogEntry(
        content_type=ContentType.objects.get_for_model(instance),
        object_pk=smart_str(pk),
        object_id=pk if isinstance(pk, int) else None,
        object_repr=smart_str(instance),
        serialized_data=LogEntry.objects._get_serialized_data_or_none(instance),
        additional_data=additional_data,
        action=LogEntry.Action.ACCESS,
        actor=actor,
        cid=get_cid(),
        surface=surface,
    )


def audit_access(
    *,
    actor: Any,
    instances: Iterable[Model],
    additional_data: Any = None,
    surface: str = "",
) -> int:
    """One ACCESS entry per instance shown, in one insert; returns the count.

    Each row is the one ``LogEntry.objects.log_create(instance, force_log=True,
    action=LogEntry.Action.ACCESS, actor=actor)`` writes (an access is logged even while
    auditlog is disabled, as ``force_log`` does). ``surface`` names where it was shown
    when the request's view name is not precise enough (FHIR read vs search, a CSV).
    While something listens to a LogEntry's post_save, which bulk_create does not send,
    the rows are saved one by one instead.
    """
    instances = list(instances)
    if post_save.has_listeners(LogEntry):
        for instance in instances:
            extra = {} if additional_data is None else {"additional_data": additional_data}
            LogEntry.objects.log_create(
                instance,
                force_log=True,
                action=LogEntry.Action.ACCESS,
                actor=actor,
                surface=surface,
                **extra,
            )
        return len(instances)
    entries = [_access_entry(instance, actor, additional_data, surface) for instance in instances]
    log_entries_write(entries)
    return len(entries)


def audit_access_rows(
    *,
    actor: Any,
    model: type[Model],
    shown: Iterable[tuple[int, Any]],
    surface: str = "",
) -> int:
    """ACCESS entries for rows known only by id, each with its own note of what was
    shown (``(patient_id, {"claim": 7})``), in one insert. The repr is "<Model> #<pk>":
    loading each row to print it would read (and decrypt) the PHI only to copy it."""
    content_type = ContentType.objects.get_for_model(model)
    name = model._meta.object_name
    cid = get_cid()
    entries = [
        LogEntry(
            content_type=content_type,
            object_pk=str(pk),
            object_id=pk,
            object_repr=f"{name} #{pk}",
            action=LogEntry.Action.ACCESS,
            actor=actor,
            additional_data=additional_data,
            cid=cid,
            surface=surface,
        )
        for pk, additional_data in shown
    ]
    log_entries_write(entries)
    return len(entries)


def audit_access_by_id(
    *,
    actor: Any,
    model: type[Model],
    pks: Iterable[int],
    additional_data: Any = None,
    surface: str = "",
) -> int:
    """ACCESS entries for rows known only by id (a drill-down's patient column)."""
    return audit_access_rows(
        actor=actor,
        model=model,
        shown=((pk, additional_data) for pk in pks),
        surface=surface,
    )


# --- security events: sign-in, tokens, access scope ------------------------------------------


def audit_security_event(
    *,
    actor: Any,
    instance: Model,
    event: str,
    action: int = LogEntry.Action.UPDATE,
    **detail: Any,
) -> LogEntry:
    """One entry for a security event about ``instance`` (a user, a token, a patient):
    ``additional_data`` holds ``{"event": event, **detail}``, so admins and the compliance
    pages filter on it. ``detail`` must hold no PHI (ids and reasons, not names)."""
    actor = actor if getattr(actor, "is_authenticated", False) else None
    entry = LogEntry.objects.log_create(
        instance,
        force_log=True,
        action=action,
        actor=actor,
        additional_data={"event": event, **detail},
    )
    assert entry is not None  # force_log always writes
    return entry
