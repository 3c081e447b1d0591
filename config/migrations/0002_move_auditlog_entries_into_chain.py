"""Moves the entries auditlog wrote before the swap into the chain, oldest first.

Their object repr named the patient (``str(patient)``); it becomes "<Model> #<pk>" like
every new entry. The actor's username and current role are copied as text. The moved
rows are then removed from auditlog's own table, which nothing writes any more, so the
names it held do not linger there.
"""

from __future__ import annotations

from django.db import migrations

BATCH = 2000


def _class_name(apps, ct) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(apps.get_model(ct.app_label, ct.model).__name__)
    except LookupError:
        return str(ct.model)


def move(apps, schema_editor):  # type: ignore[no-untyped-def]
    from config.audit_hash import GENESIS, entry_hash

    Old = apps.get_model("auditlog", "LogEntry")
    New = apps.get_model("config", "AuditEntry")
    ContentType = apps.get_model("contenttypes", "ContentType")
    User = apps.get_model("auth", "User")
    using = schema_editor.connection.alias
    models = {ct.pk: _class_name(apps, ct) for ct in ContentType.objects.using(using).all()}
    users: dict[int, tuple[str, str]] = {}
    seq, prev = 0, GENESIS
    last_id = 0
    while True:
        batch = list(Old.objects.using(using).filter(pk__gt=last_id).order_by("pk")[:BATCH])
        if not batch:
            break
        rows = []
        for old in batch:
            username = role = ""
            if old.actor_id is not None:
                if old.actor_id not in users:
                    user = User.objects.using(using).filter(pk=old.actor_id).first()
                    roles = sorted(user.groups.values_list("name", flat=True)) if user else []
                    if user and not roles and user.is_superuser:
                        roles = ["superuser"]
                    users[old.actor_id] = (user.username if user else "", ",".join(roles))
                username, role = users[old.actor_id]
            model = models.get(old.content_type_id, "Object")
            seq += 1
            new = New(
                content_type_id=old.content_type_id,
                object_pk=old.object_pk,
                object_id=old.object_id,
                object_repr=f"{model} #{old.object_pk}",
                serialized_data=old.serialized_data,
                action=old.action,
                changes_text=old.changes_text,
                changes=old.changes,
                actor_id=old.actor_id,
                cid=old.cid,
                remote_addr=old.remote_addr,
                remote_port=old.remote_port,
                timestamp=old.timestamp,
                additional_data=old.additional_data,
                actor_email=old.actor_email,
                seq=seq,
                prev_hash=prev,
                actor_username=username,
                actor_role=role,
                surface="",
            )
            new.entry_hash = prev = entry_hash(prev, {f: getattr(new, f) for f in HASHED})
            rows.append(new)
        New.objects.using(using).bulk_create(rows)
        last_id = batch[-1].pk
    Old.objects.using(using).all().delete()


def _hashed() -> tuple[str, ...]:
    from config.audit_hash import HASHED_FIELDS

    return HASHED_FIELDS


HASHED = _hashed()


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0001_audit_entry_chain"),
        ("auditlog", "0017_add_actor_email"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(move, migrations.RunPython.noop, elidable=False)]
