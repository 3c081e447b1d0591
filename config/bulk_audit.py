"""auditlog entries for rows written set-based (bulk_create, bulk_update).

bulk writes send no model signals, so a batch path writes the LogEntry rows auditlog's
receivers would have written itself: the same diff (auditlog's own
``model_instance_diff``), content type, repr, serialized data and correlation id, with
the actor and remote address filled in by auditlog's context receiver on LogEntry's
pre_save, which ``log_entries_write`` sends as ``save()`` would.
"""

from __future__ import annotations

from typing import Any


def bulk_audit_possible() -> bool:
    """The batch paths may write LogEntry rows themselves only while nobody hooks
    auditlog's own signals or a LogEntry's post_save (bulk_create sends neither)."""
    from auditlog.context import auditlog_disabled
    from auditlog.models import LogEntry
    from auditlog.signals import post_log, pre_log
    from django.db.models.signals import post_save

    if auditlog_disabled.get():
        return False  # the signals would write nothing; the careful path does the same
    return not (pre_log.receivers or post_log.receivers or post_save.has_listeners(LogEntry))


def log_entry_for(instance: Any, action: int, old: Any, fields: list[str] | None = None) -> Any:
    """The LogEntry auditlog's receiver would write for this save (None: nothing changed)."""
    from auditlog.cid import get_cid
    from auditlog.diff import model_instance_diff
    from auditlog.models import LogEntry
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.utils.encoding import smart_str

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


def log_entries_write(entries: list[Any]) -> None:
    from auditlog.models import LogEntry
    from django.db import router
    from django.db.models.signals import pre_save

    entries = [e for e in entries if e is not None]
    if pre_save.has_listeners(LogEntry):
        # What save() would send: auditlog's set_actor fills in the actor here.
        using = router.db_for_write(LogEntry)
        for entry in entries:
            pre_save.send(LogEntry, instance=entry, raw=False, using=using, update_fields=None)
    LogEntry.objects.bulk_create(entries)


def log_creates(instances: list[Any]) -> None:
    """CREATE entries for rows just written with bulk_create (their pks set)."""
    from auditlog.models import LogEntry

    if not instances:
        return
    # auditlog's create diff reads every reverse one-to-one accessor too, one SELECT each
    # (an appointment's encounter, say), to log "None". A row written this instant has
    # nothing pointing at it yet, so the answer is known: cache it for the diff, then
    # forget it so later readers still ask the database.
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
        entries = [log_entry_for(obj, LogEntry.Action.CREATE, None) for obj in instances]
    finally:
        for obj, names in zip(instances, primed, strict=True):
            for name in names:
                obj._state.fields_cache.pop(name, None)
    log_entries_write(entries)
